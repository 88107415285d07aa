package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// cycloneDXJSON is the SBOM's media type and the artifact type registries and tools (oras,
// cosign, trivy) look for among an image's referrers.
const cycloneDXJSON types.MediaType = "application/vnd.cyclonedx+json"

// emptyJSON is the OCI 1.1 empty config of an artifact manifest.
var emptyJSON = []byte("{}")

// sbomArtifact makes an OCI 1.1 artifact manifest whose one layer is the SBOM and whose subject
// is the platform image, so a registry lists it among the image's referrers.
func sbomArtifact(sbom []byte, subject v1.Descriptor, created time.Time) (v1.Image, error) {
	if !json.Valid(sbom) {
		return nil, fmt.Errorf("the SBOM is not JSON")
	}
	layer := static.NewLayer(sbom, cycloneDXJSON)
	layerDesc, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	configDigest, configSize, err := v1.SHA256(bytes.NewReader(emptyJSON))
	if err != nil {
		return nil, err
	}
	subject.Platform, subject.ArtifactType = nil, "" // a subject is a plain descriptor
	manifest, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(cycloneDXJSON),
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Digest: configDigest, Size: configSize},
		Layers:        []v1.Descriptor{*layerDesc},
		Subject:       &subject,
		Annotations:   map[string]string{ispec.AnnotationCreated: created.Format(time.RFC3339)},
	})
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: manifest, layer: layer})
}

// artifact is an image made from a raw manifest with an empty config and static layers: ggcr's
// mutate package cannot write an OCI empty config ("{}").
type artifact struct {
	manifest []byte
	layer    v1.Layer
}

// RawConfigFile is the OCI empty config.
func (a *artifact) RawConfigFile() ([]byte, error) { return emptyJSON, nil }

// MediaType is an OCI image manifest (OCI 1.1 artifacts use the image manifest).
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// RawManifest is the artifact manifest.
func (a *artifact) RawManifest() ([]byte, error) { return a.manifest, nil }

// LayerByDigest returns the SBOM layer.
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := a.layer.Digest(); err == nil && d == h {
		return a.layer, nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
