// Command image builds the manager's multi-arch OCI image without a container engine and without
// a base image, so it builds on any machine that has Go (CI included): it cross-compiles ./cmd for
// each platform, puts the binary alone in one layer on top of an empty image, and writes an OCI
// image layout holding the image index and, as OCI 1.1 referrers of each platform's manifest, a
// CycloneDX SBOM of that platform's binary. Pushing the layout (hack/imagepush) pushes both.
//
// The build is reproducible: file times and the created time come from SOURCE_DATE_EPOCH (zero
// when unset), and the SBOMs carry no timestamp or serial number.
//
// Run it with `make image`, which installs cyclonedx-gomod and passes its path.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the command-line flags.
type options struct {
	out, sbomDir, workDir, mainPkg, cyclonedx string
	platforms                                 []platform
	version, revision, source                 string
	created                                   time.Time
}

func main() {
	opts, err := parseFlags()
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	if err := run(ctx, opts); err != nil {
		stop()
		log.Fatal(err)
	}
	log.Printf("Wrote %s in %s", opts.out, time.Since(start).Round(time.Millisecond))
}

// parseFlags reads the flags and SOURCE_DATE_EPOCH.
func parseFlags() (*options, error) {
	opts := &options{}
	var platforms string
	flag.StringVar(&opts.out, "out", "bin/image/oci", "OCI image layout to write (replaced)")
	flag.StringVar(&opts.sbomDir, "sbom-dir", "bin/image", "directory for the SBOM files (sbom-<os>-<arch>.cdx.json)")
	flag.StringVar(&opts.workDir, "work-dir", "bin/image/build", "directory for the cross-compiled binaries")
	flag.StringVar(&opts.mainPkg, "main", "./cmd", "main package of the manager")
	flag.StringVar(&opts.cyclonedx, "cyclonedx-gomod", "bin/cyclonedx-gomod", "cyclonedx-gomod binary")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	flag.StringVar(&opts.version, "version", "0.0.0-dev", "version label and layout ref name")
	flag.StringVar(&opts.revision, "revision", "", "VCS revision label")
	flag.StringVar(&opts.source, "source", "https://github.com/workersvpc/connectivity-operator", "source label")
	flag.Parse()
	var err error
	if opts.platforms, err = parsePlatforms(platforms); err != nil {
		return nil, err
	}
	opts.created, err = sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	return opts, err
}

// parsePlatforms parses "os/arch,os/arch".
func parsePlatforms(s string) ([]platform, error) {
	var out []platform
	for p := range strings.SplitSeq(s, ",") {
		osName, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || osName == "" || arch == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", p)
		}
		out = append(out, platform{os: osName, arch: arch})
	}
	return out, nil
}

// sourceDateEpoch is the fixed time of every file and of the image's created field: the Unix
// time in SOURCE_DATE_EPOCH (reproducible-builds.org), or the Unix epoch when it is empty.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", v, err)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// run builds every platform and writes the layout.
func run(ctx context.Context, opts *options) error {
	var builds []*platformBuild
	for _, p := range opts.platforms {
		b, err := buildPlatform(ctx, opts, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		builds = append(builds, b)
	}
	if err := writeLayout(opts, builds); err != nil {
		return fmt.Errorf("write %s: %w", opts.out, err)
	}
	for _, b := range builds {
		log.Printf("%s: manifest %s, compressed layer %d bytes, SBOM %s", b.platform, b.digest, b.layerSize,
			filepath.Join(opts.sbomDir, b.platform.sbomName()))
	}
	return nil
}
