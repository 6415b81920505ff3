package stackcheck

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/logweave/logweave/internal/config"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	abs, _ := filepath.Abs(root)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(abs, "docker-compose.yml")},
		cli.WithWorkingDirectory(abs), cli.WithName("logweave"), cli.WithProfiles([]string{"gen"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with compose-go: %v", err)
	}
	return p
}

// isLogweave reports whether a service runs the logweave image.
func isLogweave(s types.ServiceConfig) bool { return s.Image == "logweave:local" }

// subcommands lists the commands of the built binary's usage.
func subcommands(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := exec.Command(binary, "help").CombinedOutput()
	cmds := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "commands:"):
			in = true
		case in && strings.HasPrefix(line, "  "):
			cmds[strings.Fields(line)[0]] = true
		case in && strings.TrimSpace(line) == "":
			if len(cmds) > 0 {
				in = false
			}
		}
	}
	if len(cmds) < 5 {
		t.Fatalf("could not read the subcommands from logweave help:\n%s", out)
	}
	return cmds
}

func TestCompose_EveryServiceHealthyOrExplained(t *testing.T) {
	p := loadCompose(t)
	healthy := map[string]bool{}
	for name, s := range p.Services {
		hc := s.HealthCheck
		if hc != nil && !hc.Disable && len(hc.Test) > 0 {
			healthy[name] = true
			continue
		}
		reason, _ := s.Extensions["x-no-healthcheck"].(string)
		if strings.TrimSpace(reason) == "" {
			t.Errorf("service %s has no healthcheck and no x-no-healthcheck reason", name)
		}
	}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if healthy[dep] && d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
			}
			if !healthy[dep] {
				t.Errorf("%s depends on %s, which has no healthcheck", name, dep)
			}
		}
	}
	// The roles the issue asks for.
	count := map[string]int{}
	for _, s := range p.Services {
		if isLogweave(s) {
			count[strings.Join(s.Command, " ")]++
		}
	}
	want := map[string]int{"ingest": 1, "enrich": 2, "sink --name es": 1, "sink --name loki": 1, "sink --name file": 1}
	for cmd, n := range want {
		if count[cmd] != n {
			t.Errorf("%d services run logweave %s, want %d", count[cmd], cmd, n)
		}
	}
	if g, ok := p.Services["gen"]; !ok || !isLogweave(g) || len(g.Profiles) == 0 {
		t.Errorf("no logweave gen behind a profile: %+v", g.Profiles)
	}
	for _, v := range []string{"kafka-data", "es-data", "loki-data", "prometheus-data", "grafana-data"} {
		if _, ok := p.Volumes[v]; !ok {
			t.Errorf("named volume %s missing", v)
		}
	}
}

func TestCompose_LogweaveCommandsAndConfig(t *testing.T) {
	p := loadCompose(t)
	cmds := subcommands(t)
	for name, s := range p.Services {
		if !isLogweave(s) {
			continue
		}
		if len(s.Command) == 0 || !cmds[s.Command[0]] {
			t.Errorf("service %s runs %q: not a logweave subcommand (%v)", name, s.Command, cmds)
			continue
		}
		if hc := s.HealthCheck; hc != nil && !hc.Disable {
			if len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/logweave" || !cmds[hc.Test[2]] {
				t.Errorf("service %s: healthcheck %q is not a logweave subcommand (the image has no shell)", name, hc.Test)
			}
		}
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("service %s is not built from the Dockerfile: %+v", name, s.Build)
		}
		if s.Command[0] == "gen" {
			continue // a client: no configuration
		}
		cfgPath := ""
		if v := s.Environment["LOGWEAVE_CONFIG"]; v != nil {
			cfgPath = *v
		}
		host := ""
		for _, v := range s.Volumes {
			if v.Target == cfgPath {
				host = v.Source
			}
		}
		if host == "" {
			t.Errorf("service %s: LOGWEAVE_CONFIG %q is not a mounted file", name, cfgPath)
			continue
		}
		// config check, in-process: the loader every role runs.
		cfg, err := config.Load(host, sinkTypes, func(string) string { return "" })
		if err != nil {
			t.Errorf("service %s: %s does not pass config check:\n%v", name, host, err)
			continue
		}
		if s.Command[0] == "sink" {
			sink := s.Command[len(s.Command)-1]
			if _, ok := cfg.Sink(sink); !ok {
				t.Errorf("service %s runs sink %q, which %s does not configure", name, sink, host)
			}
		}
		if !strings.HasSuffix(cfg.Admin.Listen, ":9464") || strings.HasPrefix(cfg.Admin.Listen, "127.") {
			t.Errorf("admin.listen %q: Prometheus cannot scrape it from another container", cfg.Admin.Listen)
		}
	}
}

var docPort = regexp.MustCompile(`^\| ([a-z-]+) \| (\d+) \|`)

func TestCompose_PublishedPortsMatchDocs(t *testing.T) {
	p := loadCompose(t)
	var got, want []string
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q, want 127.0.0.1 only", name, port.Published, port.HostIP)
			}
			got = append(got, fmt.Sprintf("%s:%s", name, port.Published))
		}
	}
	for _, line := range strings.Split(string(repoFile(t, "docs/operations.md")), "\n") {
		if m := docPort.FindStringSubmatch(line); m != nil {
			want = append(want, m[1]+":"+m[2])
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("published ports\n got %v\nwant %v (docs/operations.md, The compose stack)", got, want)
	}
}

func TestCompose_LokiWALOnVolume(t *testing.T) {
	p := loadCompose(t)
	var lc struct {
		Ingester struct {
			WAL struct {
				Enabled bool   `yaml:"enabled"`
				Dir     string `yaml:"dir"`
			} `yaml:"wal"`
		} `yaml:"ingester"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/loki/loki.yaml"), &lc); err != nil {
		t.Fatal(err)
	}
	if !lc.Ingester.WAL.Enabled || lc.Ingester.WAL.Dir == "" {
		t.Fatalf("deploy/loki/loki.yaml: the ingester WAL is off: %+v", lc.Ingester.WAL)
	}
	onVolume := false
	for _, v := range p.Services["loki"].Volumes {
		if v.Type == types.VolumeTypeVolume && strings.HasPrefix(lc.Ingester.WAL.Dir+"/", strings.TrimSuffix(v.Target, "/")+"/") {
			onVolume = true
		}
	}
	if !onVolume {
		t.Errorf("the WAL dir %s is not on a named volume", lc.Ingester.WAL.Dir)
	}
}
