//go:build tools

// Package tools pins the Loki command for `go build` in this module.
package tools

import _ "github.com/grafana/loki/v3/cmd/loki"
