// Command imagepush pushes the OCI image layout that `make image` writes (hack/image) to a
// registry: the multi-arch image index under a tag, then each SBOM artifact by digest, which the
// registry lists among the referrers of its platform's manifest (through the OCI 1.1 referrers API,
// or ggcr's referrers tag on registries without it). It prints the index digest on stdout, so a
// caller can pin the image by digest (the chart's image.digest).
//
// Credentials come from REGISTRY_USERNAME and REGISTRY_PASSWORD when set, else from the default
// keychain (the Docker config). Registries on localhost and 127.0.0.1 are spoken to over plain
// HTTP, as ggcr does for them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	dir := flag.String("layout", "bin/image/oci", "OCI image layout written by hack/image")
	repo := flag.String("repo", "", "repository to push to, e.g. ghcr.io/owner/connectivity-operator")
	tag := flag.String("tag", "", "tag of the image index; must equal the layout's version")
	flag.Parse()
	if *repo == "" || *tag == "" {
		log.Fatal("-repo and -tag are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	digest, err := push(ctx, *dir, *repo, *tag)
	if err != nil {
		stop()
		log.Fatal(err)
	}
	fmt.Println(digest)
}

// push pushes the layout's image index as repo:tag and its SBOM referrers, and returns the index
// digest.
func push(ctx context.Context, dir, repo, tag string) (v1.Hash, error) {
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		return v1.Hash{}, err
	}
	index, err := readIndex(dir)
	if err != nil {
		return v1.Hash{}, err
	}
	opts := []remote.Option{remote.WithContext(ctx), auth()}
	imageDesc, err := findImageIndex(index)
	if err != nil {
		return v1.Hash{}, err
	}
	if got := imageDesc.Annotations[ispec.AnnotationRefName]; got != tag {
		return v1.Hash{}, fmt.Errorf("the layout %s holds version %q, not %q: run `make image` with this version",
			dir, got, tag)
	}
	images, err := index.ImageIndex(imageDesc.Digest)
	if err != nil {
		return v1.Hash{}, err
	}
	log.Printf("Pushing %s (%s)", ref, imageDesc.Digest)
	if err := remote.WriteIndex(ref, images, opts...); err != nil {
		return v1.Hash{}, err
	}
	return imageDesc.Digest, pushReferrers(index, ref.Context(), opts)
}

// readIndex reads the layout's index.json.
func readIndex(dir string) (v1.ImageIndex, error) {
	path, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read the OCI layout %s (run `make image`): %w", dir, err)
	}
	return path.ImageIndex()
}

// findImageIndex returns the one image index in index.json: the multi-arch image.
func findImageIndex(index v1.ImageIndex) (*v1.Descriptor, error) {
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found *v1.Descriptor
	for i, desc := range manifest.Manifests {
		if desc.MediaType.IsIndex() {
			if found != nil {
				return nil, errors.New("the layout holds more than one image index")
			}
			found = &manifest.Manifests[i]
		}
	}
	if found == nil {
		return nil, errors.New("the layout holds no image index")
	}
	return found, nil
}

// pushReferrers pushes by digest every manifest in index.json that has a subject (the SBOMs).
func pushReferrers(index v1.ImageIndex, repo name.Repository, opts []remote.Option) error {
	manifest, err := index.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range manifest.Manifests {
		if !desc.MediaType.IsImage() {
			continue
		}
		img, err := index.Image(desc.Digest)
		if err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		if m.Subject == nil {
			continue
		}
		log.Printf("Pushing %s referrer %s of %s", m.ArtifactType, desc.Digest, m.Subject.Digest)
		if err := remote.Write(repo.Digest(desc.Digest.String()), img, opts...); err != nil {
			return err
		}
	}
	return nil
}

// auth returns Basic credentials from REGISTRY_USERNAME and REGISTRY_PASSWORD when both are set
// (CI: the workflow's GITHUB_TOKEN), else the default keychain.
func auth() remote.Option {
	user, password := os.Getenv("REGISTRY_USERNAME"), os.Getenv("REGISTRY_PASSWORD")
	if user != "" && password != "" {
		return remote.WithAuth(&authn.Basic{Username: user, Password: password})
	}
	return remote.WithAuthFromKeychain(authn.DefaultKeychain)
}
