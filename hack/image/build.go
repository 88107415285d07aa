package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// platform is one os/arch the image is built for.
type platform struct{ os, arch string }

// String is the os/arch form used in flags and logs.
func (p platform) String() string { return p.os + "/" + p.arch }

// sbomName is the file name of the platform's SBOM next to the layout.
func (p platform) sbomName() string { return "sbom-" + p.os + "-" + p.arch + ".cdx.json" }

// platformBuild is one platform's image and the SBOM artifact that refers to it.
type platformBuild struct {
	platform  platform
	image     v1.Image
	sbom      v1.Image
	digest    v1.Hash
	layerSize int64
}

// buildPlatform cross-compiles the manager for p, describes the binary in an SBOM, and makes the
// platform's image and the SBOM artifact whose subject is that image.
func buildPlatform(ctx context.Context, opts *options, p platform) (*platformBuild, error) {
	bin := filepath.Join(opts.workDir, p.os+"-"+p.arch, "manager")
	if err := compile(ctx, opts.mainPkg, bin, p); err != nil {
		return nil, err
	}
	sbomPath := filepath.Join(opts.sbomDir, p.sbomName())
	if err := generateSBOM(ctx, opts, bin, sbomPath); err != nil {
		return nil, err
	}
	img, err := managerImage(bin, p, opts)
	if err != nil {
		return nil, err
	}
	desc, err := platformDescriptor(img, p)
	if err != nil {
		return nil, err
	}
	sbom, err := os.ReadFile(sbomPath)
	if err != nil {
		return nil, err
	}
	artifact, err := sbomArtifact(sbom, *desc, opts.created)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	size, err := layers[0].Size()
	if err != nil {
		return nil, err
	}
	return &platformBuild{platform: p, image: img, sbom: artifact, digest: desc.Digest, layerSize: size}, nil
}

// compile builds the manager as `make build` and the Dockerfile do (static, -trimpath), for p.
func compile(ctx context.Context, mainPkg, out string, p platform) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, mainPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", mainPkg, err)
	}
	return nil
}

// generateSBOM writes a CycloneDX SBOM of the binary from the module list Go embeds in it, so it
// lists exactly the modules (and Go version) linked into that platform's binary. No timestamp or
// serial number, so the same binary gives the same SBOM.
func generateSBOM(ctx context.Context, opts *options, bin, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, opts.cyclonedx, "bin", "-json", "-std", "-licenses",
		"-noserial", "-notimestamp", "-version", opts.version, "-output", out, bin)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cyclonedx-gomod bin: %w\n%s", err, output)
	}
	return nil
}
