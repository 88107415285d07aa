package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// nonroot is the user and group the manager runs as: distroless's nonroot, which the chart's and
// config/manager's restricted security contexts expect.
const nonroot = "65532:65532"

// passwd and group name the nonroot user as distroless does, for tools that look the user up.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// managerImage makes the platform's image: an empty image plus one layer with the binary at
// /manager, run as nonroot, with OCI labels and every time fixed at opts.created.
func managerImage(bin string, p platform, opts *options) (v1.Image, error) {
	layer, err := managerLayer(bin, opts.created)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: opts.created}, CreatedBy: "hack/image: COPY manager /manager", Comment: p.String(),
	}})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.os, p.arch
	cfg.Created = v1.Time{Time: opts.created}
	cfg.Config = v1.Config{
		Entrypoint: []string{"/manager"},
		User:       nonroot,
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels:     labels(opts),
	}
	return mutate.ConfigFile(img, cfg)
}

// labels are the standard OCI image labels (annotations keys, as config labels).
func labels(opts *options) map[string]string {
	l := map[string]string{
		ispec.AnnotationTitle:       "connectivity-operator",
		ispec.AnnotationDescription: "Kubernetes operator for Cloudflare Workers VPC connectivity services",
		ispec.AnnotationSource:      opts.source,
		ispec.AnnotationURL:         opts.source,
		ispec.AnnotationVersion:     opts.version,
		ispec.AnnotationCreated:     opts.created.Format(time.RFC3339),
	}
	if opts.revision != "" {
		l[ispec.AnnotationRevision] = opts.revision
	}
	return l
}

// managerLayer makes a gzip-compressed OCI layer of the binary at /manager plus /etc/passwd and
// /etc/group, owned by root, every entry dated modTime so the same binary gives the same digest.
func managerLayer(bin string, modTime time.Time) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		mode int64
		body []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/group", 0o644, []byte(group)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{"manager", 0o755, data},
	}
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), ModTime: modTime, Format: tar.FormatPAX}
		if e.body == nil {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	tarBytes := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching)
}

// platformDescriptor is the image's descriptor in the index, with its platform.
func platformDescriptor(img v1.Image, p platform) (*v1.Descriptor, error) {
	desc, err := partial.Descriptor(img)
	if err != nil {
		return nil, err
	}
	desc.Platform = &v1.Platform{OS: p.os, Architecture: p.arch}
	return desc, nil
}
