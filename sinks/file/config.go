package file

import (
	"errors"
	"path/filepath"
	"time"
)

// Config is the `file:` section of a file sink.
type Config struct {
	// Dir holds the files; created if missing. Default .logweave/files.
	Dir string `yaml:"dir"`
	// MaxBytes rotates a file when it reaches this size. Default 100 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxAge rotates a file this long after it was opened. Default 1h.
	MaxAge time.Duration `yaml:"max_age"`
}

// Default returns the defaults.
func Default() Config {
	return Config{Dir: filepath.Join(".logweave", "files"), MaxBytes: 100 << 20, MaxAge: time.Hour}
}

// Validate checks the section; errors start with the field name.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if c.MaxBytes < 1024 {
		errs = append(errs, errors.New("max_bytes: must be at least 1024"))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, errors.New("max_age: must be positive, e.g. 1h"))
	}
	return errors.Join(errs...)
}
