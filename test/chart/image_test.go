package chart

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// pinnedDigest is a well-formed image index digest.
const pinnedDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestRenderImage checks how the manager image is named: repository:tag by default (the tag
// falling back to appVersion), repository@digest when image.digest is set (the release pins the
// pushed index that way, whatever the tag), and that a malformed digest fails the render.
func TestRenderImage(t *testing.T) {
	const repo = "ghcr.io/workersvpc/connectivity-operator"
	for set, want := range map[string]string{
		"image.tag=v9":                                                    repo + ":v9",
		"image.digest=" + pinnedDigest:                                    repo + "@" + pinnedDigest,
		"image.tag=v9,image.digest=" + pinnedDigest:                       repo + "@" + pinnedDigest,
		"image.repository=127.0.0.1:5000/op,image.digest=" + pinnedDigest: "127.0.0.1:5000/op@" + pinnedDigest,
	} {
		dep := typed[appsv1.Deployment](t, only(t, parseObjects(t, helmTemplate(t, "--set", set)), "Deployment"))
		if got := managerContainer(t, dep).Image; got != want {
			t.Errorf("--set %s: image = %s, want %s", set, got, want)
		}
	}
	for _, digest := range []string{"0123abcd", "sha256:0123", "latest"} {
		out, err := runErr(helm(t), "template", releaseName, chartDir, "--namespace", namespace,
			"--set", "image.digest="+digest)
		if err == nil || !strings.Contains(string(out), "image/digest") {
			t.Errorf("--set image.digest=%s: want an error naming image/digest, got %v\n%s", digest, err, out)
		}
	}
}
