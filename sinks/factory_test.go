package sinks

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type testSection struct{ Dir string }

func (c *testSection) Validate() error {
	if c.Dir == "" {
		return errors.New("dir: required")
	}
	return nil
}

type testSink struct {
	Sink
	dir, name string
}

func testFactory() Factory {
	return NewFactory("test", func() testSection { return testSection{Dir: "d"} },
		func(_ context.Context, set Settings, c testSection) (*testSink, error) {
			if c.Dir == "fail" {
				return nil, errors.New("refused")
			}
			return &testSink{dir: c.Dir, name: set.Name}, nil
		})
}

func TestFactory_BuildsFromItsSection(t *testing.T) {
	fs := Factories{testFactory()}
	f, ok := fs.Get("test")
	if !ok || strings.Join(fs.Types(), ",") != "test" {
		t.Fatalf("Get/Types: %v %v", ok, fs.Types())
	}
	if _, ok := fs.Get("other"); ok {
		t.Fatal("Get found a type that is not listed")
	}
	sec := f.DefaultConfig()
	if sec.(*testSection).Dir != "d" || sec == f.DefaultConfig() {
		t.Fatalf("DefaultConfig must return fresh defaults: %#v", sec)
	}
	sec.(*testSection).Dir = "x"
	s, err := f.New(context.Background(), Settings{Name: "a"}, sec)
	if err != nil || s.(*testSink).dir != "x" || s.(*testSink).name != "a" {
		t.Fatalf("New = %#v, %v", s, err)
	}
	sec.(*testSection).Dir = "fail"
	if s, err := f.New(context.Background(), Settings{Name: "a"}, sec); s != nil || err == nil {
		t.Fatalf("a failed create must return a nil Sink and the error: %#v, %v", s, err)
	}
}

func TestFactory_RefusesAnotherTypesSection(t *testing.T) {
	type other struct{ testSection }
	_, err := testFactory().New(context.Background(), Settings{Name: "a"}, &other{})
	if err == nil || !strings.Contains(err.Error(), `building test sink "a": its section is a *sinks.other`) {
		t.Fatalf("err = %v", err)
	}
}
