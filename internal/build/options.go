package build

import (
	"fmt"
	"regexp"
	"strings"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
	"stella-ops.org/ouk/oci/layout"
)

// versionPattern is the grammar of the OCI annotation
// org.opencontainers.image.ref.name (image-spec v1.1.1, annotations.md),
// which tags the bundle index in index.json with the kit version:
// components of letters and digits joined by one of - . _ : @ + or by
// "--", with "/" between components.
var versionPattern = regexp.MustCompile(
	`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

// VersionRule describes the kit versions that CheckVersion accepts, for
// messages and help text.
const VersionRule = "letters A-Z and a-z and digits 0-9, joined by one of - . _ : @ + or by --, " +
	"with / between parts; it starts and ends with a letter or digit, such as 2026.12.04 or 1.4.0-rc.1"

// CheckVersion returns an error wrapping errdef.ErrInvalidArgument when v
// cannot be a kit version: it is empty, longer than oci.MaxVersionLength
// or not a valid OCI reference name, so tools such as skopeo could not
// select the kit by it in the layout.
func CheckVersion(v string) error {
	if v == "" {
		return fmt.Errorf("kit version is empty; leave it out to use the creation time, or use %s: %w",
			VersionRule, errdef.ErrInvalidArgument)
	}
	if len(v) > oci.MaxVersionLength {
		return fmt.Errorf("kit version %q is %d characters long, over the maximum of %d; give a shorter version: %w",
			v, len(v), oci.MaxVersionLength, errdef.ErrInvalidArgument)
	}
	if strings.EqualFold(v, "active") {
		return fmt.Errorf("kit version %q is reserved: commands such as ouk export and ouk check read it as the "+
			"active kit; give another version: %w", v, errdef.ErrInvalidArgument)
	}
	if !versionPattern.MatchString(v) {
		return fmt.Errorf("kit version %q is not a valid OCI reference name; use %s: %w",
			v, VersionRule, errdef.ErrInvalidArgument)
	}
	return nil
}

// checkOptions rejects option values that the build would only trip over
// after its work: an output name without a kit suffix, a malformed version
// and a negative sequence. It returns the compression of Output.
func checkOptions(opts Options) (layout.Compression, error) {
	comp, err := outputCompression(opts.Output)
	if err != nil {
		return comp, err
	}
	if opts.DeltaOutput != "" {
		if _, err := outputCompression(opts.DeltaOutput); err != nil {
			return comp, err
		}
	}
	if opts.Version != "" {
		if err := CheckVersion(opts.Version); err != nil {
			return comp, err
		}
	}
	if opts.Sequence < 0 {
		return comp, fmt.Errorf("kit sequence is %d; give a positive number, or 0 for the creation time in Unix seconds: %w",
			opts.Sequence, errdef.ErrInvalidArgument)
	}
	return comp, nil
}

// outputCompression returns the compression that the kit file name picks.
// An unknown suffix is a mistake in the request, so the error wraps both
// errdef.ErrInvalidArgument and errdef.ErrUnknownCompression.
func outputCompression(name string) (layout.Compression, error) {
	comp, err := layout.CompressionFromName(name)
	if err != nil {
		return comp, fmt.Errorf("%w: %w", errdef.ErrInvalidArgument, err)
	}
	return comp, nil
}
