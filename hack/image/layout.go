package main

import (
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeLayout replaces opts.out with an OCI image layout whose index.json lists the multi-arch
// image index (annotated with the version) and each SBOM artifact (a referrer of one platform's
// manifest).
func writeLayout(opts *options, builds []*platformBuild) error {
	if err := os.RemoveAll(opts.out); err != nil {
		return err
	}
	path, err := layout.Write(opts.out, empty.Index)
	if err != nil {
		return err
	}
	// The ref name is the version; hack/imagepush checks it against the tag it pushes, so a
	// stale layout is never pushed under a new version.
	if err := path.AppendIndex(imageIndex(builds),
		layout.WithAnnotations(map[string]string{ispec.AnnotationRefName: opts.version})); err != nil {
		return err
	}
	for _, b := range builds {
		if err := path.AppendImage(b.sbom); err != nil {
			return err
		}
	}
	return nil
}

// imageIndex is the multi-arch OCI image index of the platform images.
func imageIndex(builds []*platformBuild) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range builds {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: b.image,
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: b.platform.os, Architecture: b.platform.arch},
			},
		})
	}
	return idx
}
