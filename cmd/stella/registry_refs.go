package main

import (
	"fmt"
	"strings"

	"oras.land/oras-go/v2/registry"
)

// Rules of the OCI distribution spec for repository names and tags, as
// the registry package of oras-go checks them.
const (
	repositoryRule = "a repository name is lower-case letters and digits, separated by '.', '_', '__', '-' or '/'"
	tagRule        = "a tag is 1 to 128 letters, digits, underscores, periods and dashes, and starts with a letter, digit or underscore"
)

// parseRegistryRef parses value as REGISTRY/REPOSITORY[:TAG|@DIGEST]. An
// invalid value returns a usage error that names the rule it breaks. label
// names the value in the message, such as "target" or "source".
func parseRegistryRef(label, value string) (registry.Reference, error) {
	ref, err := registry.ParseReference(value)
	if err == nil {
		return ref, nil
	}
	problem := referenceProblem(value, err)
	if label == "target" {
		// A push names its target by tag; a digest is what it produces.
		problem = strings.ReplaceAll(problem, referenceForms, "write it as REGISTRY/REPOSITORY:TAG")
	}
	return registry.Reference{}, usagef("%s %q: %s", label, value, problem)
}

// referenceForms is the advice on how to write a registry reference.
const referenceForms = "write it as REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST"

// referenceProblem explains why registry.ParseReference rejected value
// with err, and how to write the value instead.
func referenceProblem(value string, err error) string {
	const form = referenceForms
	if strings.Contains(value, "://") {
		return "leave out the scheme and " + form + "; pass --plain-http for a registry that speaks HTTP"
	}
	host, path, ok := strings.Cut(value, "/")
	if !ok || path == "" {
		return "no repository is named; " + form
	}
	if (registry.Reference{Registry: host}).ValidateRegistry() != nil {
		return fmt.Sprintf("%q is not a valid registry host[:port]; %s", host, form)
	}
	repo, reference, isDigest := path, "", false
	if i := strings.Index(path, "@"); i >= 0 {
		repo, reference, isDigest = path[:i], path[i+1:], true
		// A tag before the digest is allowed and ignored.
		repo, _, _ = strings.Cut(repo, ":")
	} else if i := strings.Index(path, ":"); i >= 0 {
		repo, reference = path[:i], path[i+1:]
	}
	if problem := repositoryProblem(repo); problem != "" {
		return problem
	}
	if isDigest {
		return digestProblem(reference)
	}
	if reference != "" {
		return fmt.Sprintf("tag %q is invalid: %s", reference, tagRule)
	}
	return fmt.Sprintf("%v; %s", err, form)
}

// repositoryProblem returns why repo is not a valid repository name, or ""
// when it is one.
func repositoryProblem(repo string) string {
	if (registry.Reference{Registry: "localhost", Repository: repo}).ValidateRepository() == nil {
		return ""
	}
	lower := strings.ToLower(repo)
	if lower != repo && (registry.Reference{Registry: "localhost", Repository: lower}).ValidateRepository() == nil {
		return fmt.Sprintf("repository names are lower case: write %q as %q", repo, lower)
	}
	return fmt.Sprintf("repository %q is invalid: %s", repo, repositoryRule)
}

// digestProblem explains why d, the part after '@', is not a valid sha256
// digest.
func digestProblem(d string) string {
	hex, ok := strings.CutPrefix(d, "sha256:")
	switch {
	case !ok:
		return fmt.Sprintf("digest %q is invalid: write sha256: followed by 64 lower-case hex digits", d)
	case strings.Trim(hex, "0123456789abcdef") != "":
		return fmt.Sprintf("digest %q is invalid: a sha256 digest has 64 lower-case hex digits (0-9, a-f)", d)
	case len(hex) < 64:
		return fmt.Sprintf("digest %q is incomplete: it has %d of the 64 hex digits of a sha256 digest; "+
			"give the full digest, as `stella ouk history` or `crane digest` prints it", d, len(hex))
	}
	return fmt.Sprintf("digest %q is invalid: it has %d hex digits, and a sha256 digest has 64", d, len(hex))
}

// checkMirrorTarget checks the --to value of mirror, REGISTRY[/PREFIX], and
// returns a usage error that names what is wrong with it.
func checkMirrorTarget(to string) error {
	const form = "--to takes REGISTRY[/PREFIX], such as registry.intranet:5000/mirror"
	if strings.Contains(to, "://") {
		return usagef("--to %q: leave out the scheme; %s, and --plain-http selects HTTP", to, form)
	}
	host, prefix, _ := strings.Cut(strings.TrimSuffix(to, "/"), "/")
	if (registry.Reference{Registry: host}).ValidateRegistry() != nil {
		return usagef("--to %q: %q is not a valid registry host[:port]; %s", to, host, form)
	}
	if strings.ContainsAny(prefix, ":@") {
		return usagef("--to %q names a tag or digest; %s, and each image keeps its own tag and digest", to, form)
	}
	if prefix == "" {
		return nil
	}
	if problem := repositoryProblem(prefix); problem != "" {
		return usagef("--to %q: %s; %s", to, problem, form)
	}
	return nil
}
