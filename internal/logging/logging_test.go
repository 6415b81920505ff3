package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew_FormatsAndLevels(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Config{Level: "warn", Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "submit_id", "S1")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("json line: %v (%q)", err, buf.String())
	}
	if rec["msg"] != "shown" || rec["submit_id"] != "S1" {
		t.Errorf("record = %v", rec)
	}
	buf.Reset()
	l, _ = New(Config{Level: "debug", Format: "text"}, &buf)
	l.Debug("dbg")
	if !strings.Contains(buf.String(), "msg=dbg") {
		t.Errorf("text output = %q", buf.String())
	}
}

func TestConfig_Validate(t *testing.T) {
	err := (&Config{Level: "loud", Format: "xml"}).Validate()
	want := "level: \"loud\" is not allowed (allowed: debug, info, warn, error)\nformat: \"xml\" is not allowed (allowed: text, json)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
