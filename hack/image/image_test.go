package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestParsePlatforms(t *testing.T) {
	for in, want := range map[string]int{"linux/amd64,linux/arm64": 2, "linux/amd64": 1, "linux": -1, "linux/": -1} {
		got, err := parsePlatforms(in)
		if want < 0 {
			if err == nil {
				t.Errorf("parsePlatforms(%q) = %v, want an error", in, got)
			}
			continue
		}
		if err != nil || len(got) != want {
			t.Errorf("parsePlatforms(%q) = %v, %v; want %d platforms", in, got, err, want)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for in, want := range map[string]time.Time{"": time.Unix(0, 0), "1700000000": time.Unix(1700000000, 0)} {
		if got, err := sourceDateEpoch(in); err != nil || !got.Equal(want) {
			t.Errorf("sourceDateEpoch(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := sourceDateEpoch("yesterday"); err == nil {
		t.Error("sourceDateEpoch(yesterday): want an error")
	}
}

// TestManagerImageIsReproducible builds the image twice from the same file and checks the
// digests are equal and the layer holds /manager, executable and dated SOURCE_DATE_EPOCH.
func TestManagerImageIsReproducible(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := &options{version: "1.2.3", created: time.Unix(1700000000, 0).UTC()}
	p := platform{os: "linux", arch: "arm64"}
	digests := map[v1.Hash]bool{}
	var img v1.Image
	for range 2 {
		var err error
		if img, err = managerImage(bin, p, opts); err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests[d] = true
	}
	if len(digests) != 1 {
		t.Errorf("two builds of the same binary gave digests %v", digests)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != nonroot || cfg.Architecture != "arm64" || !cfg.Created.Equal(opts.created) {
		t.Errorf("config: user %q, arch %q, created %v", cfg.Config.User, cfg.Architecture, cfg.Created)
	}
	assertManagerEntry(t, img, opts.created)
}

// assertManagerEntry checks the image's one layer holds /manager, mode 0755, dated modTime.
func assertManagerEntry(t *testing.T, img v1.Image, modTime time.Time) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("the layer has no manager")
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(modTime) {
			t.Errorf("%s dated %v, want %v", hdr.Name, hdr.ModTime, modTime)
		}
		if hdr.Name == "manager" {
			if hdr.Mode != 0o755 || hdr.Uid != 0 {
				t.Errorf("manager: mode %o, uid %d; want 755, 0", hdr.Mode, hdr.Uid)
			}
			return
		}
	}
}

// TestSBOMArtifact checks the SBOM artifact is an OCI 1.1 artifact manifest referring to the image.
func TestSBOMArtifact(t *testing.T) {
	digest, _, err := v1.SHA256(strings.NewReader("image manifest"))
	if err != nil {
		t.Fatal(err)
	}
	subject := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 1, Digest: digest,
		Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}, ArtifactType: string(types.OCIConfigJSON)}
	img, err := sbomArtifact([]byte(`{"bomFormat":"CycloneDX"}`), subject, time.Unix(0, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != string(cycloneDXJSON) || m.Config.MediaType != types.OCIEmptyJSON ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != cycloneDXJSON {
		t.Errorf("manifest %+v: want artifactType and layer %s, empty config", m, cycloneDXJSON)
	}
	if s := m.Subject; s == nil || s.Digest != digest || s.Platform != nil || s.ArtifactType != "" {
		t.Errorf("subject %+v: want the plain image descriptor", m.Subject)
	}
	if raw, err := img.RawConfigFile(); err != nil || string(raw) != "{}" {
		t.Errorf("config %q, %v; want {}", raw, err)
	}
	if _, err := sbomArtifact([]byte("not json"), subject, time.Unix(0, 0)); err == nil {
		t.Error("an SBOM that is not JSON was accepted")
	}
}
