package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"stella-ops.org/ouk/internal/quota"
)

// configFile is the optional settings file in the store folder.
const configFile = "config.yaml"

// config holds the site settings read from <store>/config.yaml. Every field
// is optional; absent ones keep their defaults.
type config struct {
	// Quota overrides fields of the scan quota policy.
	Quota *quota.Policy `json:"quota,omitempty"`
}

// loadConfig reads <storeDir>/config.yaml; a missing file gives the defaults.
func loadConfig(storeDir string) (config, error) {
	path := filepath.Join(storeDir, configFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return config{}, nil
	}
	if err != nil {
		return config{}, fmt.Errorf("reading settings: %w", err)
	}
	cfg := config{}
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return config{}, fmt.Errorf("settings file %s: %v; fix or remove it", path, err)
	}
	return cfg, nil
}

// quotaPolicy returns the default policy with the settings file's overrides.
func (c config) quotaPolicy() (quota.Policy, error) {
	p := quota.DefaultPolicy()
	if c.Quota == nil {
		return p, nil
	}
	o := *c.Quota
	if o.AnonymousLimit != 0 {
		p.AnonymousLimit = o.AnonymousLimit
	}
	if o.FreeTierLimit != 0 {
		p.FreeTierLimit = o.FreeTierLimit
	}
	if o.ReminderAt != 0 {
		p.ReminderAt = o.ReminderAt
	}
	if o.ReminderFraction != 0 {
		p.ReminderFraction = o.ReminderFraction
	}
	if o.SlowdownFraction != 0 {
		p.SlowdownFraction = o.SlowdownFraction
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("settings file %s: %w", configFile, err)
	}
	return p, nil
}
