package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestVersion_FallsBackToBuildInfo(t *testing.T) {
	// A test binary has no ldflags: the version comes from
	// runtime/debug.ReadBuildInfo, never an empty string.
	b := buildVersion()
	if b.Version == "" || b.Revision == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("build %+v has empty fields", b)
	}
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, &out); code != 0 || !strings.Contains(out.String(), "logweave "+b.Version+" (revision "+b.Revision) {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
}

func TestVersion_StampedValuesWin(t *testing.T) {
	oldV, oldR := version, revision
	version, revision = "v1.2.3", "0123abcd"
	defer func() { version, revision = oldV, oldR }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(buildInfoCollector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "logweave_build_info" {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	labels := map[string]string{}
	for _, l := range mfs[0].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "v1.2.3" || labels["revision"] != "0123abcd" || mfs[0].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("logweave_build_info %v", mfs[0])
	}
}
