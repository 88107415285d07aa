package release

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// sbomType is the artifact type of the SBOM referrers hack/image attaches.
const sbomType = "application/vnd.cyclonedx+json"

// wantPlatforms are the platforms of the multi-arch image.
var wantPlatforms = []string{"linux/amd64", "linux/arm64"}

// startRegistry serves an in-memory OCI registry with the referrers API on 127.0.0.1 and returns
// its host:port (ggcr and helm --plain-http speak plain HTTP to it).
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true),
		registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// layoutIndex returns the digest of the image index in the layout `make image` wrote: what the
// release must push.
func layoutIndex(t *testing.T, dir string) v1.Hash {
	t.Helper()
	path, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("read the OCI layout %s (run `make image`): %v", dir, err)
	}
	index, err := path.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, desc := range manifest.Manifests {
		if desc.MediaType.IsIndex() {
			return desc.Digest
		}
	}
	t.Fatalf("the layout %s has no image index", dir)
	return v1.Hash{}
}

// makeRelease runs the `make release` recipe against the local registry, with a helm home of its
// own and without registry credentials from the environment.
func makeRelease(t *testing.T, cfg config, registryHost string) {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "release", "REGISTRY="+registryHost,
		"HELM_REGISTRY_FLAGS=--plain-http", "HELM="+cfg.helm, "IMAGE_LAYOUT="+cfg.layout, "VERSION="+cfg.version)
	cmd.Dir = repoRoot
	cmd.Env = append(helmEnv(t), "REGISTRY_USERNAME=", "REGISTRY_PASSWORD=")
	out, err := cmd.CombinedOutput()
	t.Logf("make release:\n%s", out)
	if err != nil {
		t.Fatalf("make release: %v", err)
	}
}

// helmEnv is the environment with Helm's cache, config and data directories in a temporary
// directory, so the test leaves the user's home alone.
func helmEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
}

// checkPushedImage checks that the tag resolves to the layout's index, that the index holds one
// image per platform that runs /manager as 65532:65532, and that each image has an SBOM referrer.
func checkPushedImage(t *testing.T, tag string, want v1.Hash) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	index, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if got, err := index.Digest(); err != nil || got != want {
		t.Fatalf("%s is %v (%v), want the layout's index %s", ref, got, err, want)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	platforms := make([]string, 0, len(manifest.Manifests))
	for _, desc := range manifest.Manifests {
		platforms = append(platforms, desc.Platform.String())
		checkPlatformImage(t, ref.Context(), index, desc)
	}
	if slices.Sort(platforms); !slices.Equal(platforms, wantPlatforms) {
		t.Errorf("%s has platforms %v, want %v", ref, platforms, wantPlatforms)
	}
}

// checkPlatformImage checks one platform's image config and its SBOM referrer.
func checkPlatformImage(t *testing.T, repo name.Repository, index v1.ImageIndex, desc v1.Descriptor) {
	t.Helper()
	img, err := index.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/manager"}) {
		t.Errorf("%s: user %q, entrypoint %q; want 65532:65532 and /manager",
			desc.Platform, cfg.Config.User, cfg.Config.Entrypoint)
	}
	if got := cfg.Platform().String(); got != desc.Platform.String() {
		t.Errorf("%s: the config says platform %s", desc.Platform, got)
	}
	referrers, err := remote.Referrers(repo.Digest(desc.Digest.String()))
	if err != nil {
		t.Fatalf("referrers of %s: %v", desc.Digest, err)
	}
	refs, err := referrers.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var sboms int
	for _, d := range refs.Manifests {
		// The referrers list of ggcr's registry gives config.mediaType as the artifactType, so
		// the artifact type is read from the referrer's own manifest.
		if checkSBOM(t, repo.Digest(d.Digest.String())) {
			sboms++
		}
	}
	if sboms != 1 {
		t.Errorf("%s (%s) has %d %s referrers, want 1: %+v", desc.Platform, desc.Digest, sboms, sbomType, refs.Manifests)
	}
}

// checkSBOM pulls a referrer and, when it is an SBOM artifact, checks it is a CycloneDX
// document of the manager and returns true.
func checkSBOM(t *testing.T, ref name.Digest) bool {
	t.Helper()
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull the referrer %s: %v", ref, err)
	}
	if m, err := img.Manifest(); err != nil || m.ArtifactType != sbomType {
		return false
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("the SBOM %s has %d layers (%v), want 1", ref, len(layers), err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name string `json:"name"`
			} `json:"component"`
		} `json:"metadata"`
		Components []json.RawMessage `json:"components"`
	}
	if err := json.NewDecoder(rc).Decode(&bom); err != nil {
		t.Fatalf("the SBOM %s: %v", ref, err)
	}
	if bom.BOMFormat != "CycloneDX" || !strings.HasSuffix(bom.Metadata.Component.Name, "connectivity-operator") ||
		len(bom.Components) == 0 {
		t.Errorf("the SBOM %s: format %q, component %q, %d components; want a CycloneDX BOM of the manager's modules",
			ref, bom.BOMFormat, bom.Metadata.Component.Name, len(bom.Components))
	}
	return true
}
