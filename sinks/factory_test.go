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

type testLookup struct{ index string }

func (*testLookup) Lookup(context.Context, LookupQuery) ([]Found, error) { return nil, nil }

func testFactory(opts ...FactoryOption[testSection]) Factory {
	return NewFactory("test", func() testSection { return testSection{Dir: "d"} },
		func(_ context.Context, set Settings, c testSection) (*testSink, error) {
			if c.Dir == "fail" {
				return nil, errors.New("refused")
			}
			return &testSink{dir: c.Dir, name: set.Name}, nil
		}, opts...)
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
	if err == nil || !strings.Contains(err.Error(), `building sink "a": the section of a test sink is a *sinks.other`) {
		t.Fatalf("err = %v", err)
	}
}

func TestFactory_LookupOnlyWhenGiven(t *testing.T) {
	if l, err := testFactory().NewLookup(&testSection{Dir: "d"}, LookupOptions{}); l != nil || !errors.Is(err, ErrNoLookup) {
		t.Fatalf("a type without WithLookup: %#v, %v", l, err)
	}
	f := testFactory(WithLookup(func(c testSection, o LookupOptions) (*testLookup, error) {
		if c.Dir == "fail" {
			return nil, errors.New("refused")
		}
		return &testLookup{index: o.Index}, nil
	}))
	l, err := f.NewLookup(&testSection{Dir: "d"}, LookupOptions{Index: "logweave-*"})
	if err != nil || l.(*testLookup).index != "logweave-*" {
		t.Fatalf("NewLookup = %#v, %v", l, err)
	}
	if l, err := f.NewLookup(&testSection{Dir: "fail"}, LookupOptions{}); l != nil || err == nil {
		t.Fatalf("a failed lookup must return a nil Lookup and the error: %#v, %v", l, err)
	}
}
