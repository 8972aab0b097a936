// Package kubernetes checks deploy/kubernetes/lattice.yaml against the
// binary it runs: every LATTICE_ variable names a flag of `lattice serve`,
// the container ports are the ports the flags listen on, the probes ask the
// HTTP port for /healthz and /readyz, and the join list names the
// StatefulSet's own pods through its headless Service. The project has no
// YAML library, so yamlDoc below reads the subset the manifest uses.
package kubernetes

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestManifestMatchesBinary(t *testing.T) {
	src, err := os.ReadFile("lattice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]node{}
	for _, text := range strings.Split(string(src), "\n---") {
		d, err := parseYAML(text)
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			continue
		}
		docs[str(d, "kind")+"/"+str(d, "metadata", "name")] = d
	}
	sts, ok := docs["StatefulSet/lattice"]
	if !ok {
		t.Fatalf("no StatefulSet lattice among %v", keys(docs))
	}
	headless := docs["Service/"+str(sts, "spec", "serviceName")]
	if headless == nil || str(headless, "spec", "clusterIP") != "None" {
		t.Fatalf("serviceName %q is not a headless Service", str(sts, "spec", "serviceName"))
	}
	if str(headless, "spec", "publishNotReadyAddresses") != "true" {
		t.Error("the headless Service must publish not-ready pods: they join before they are ready")
	}
	if len(list(sts, "spec", "volumeClaimTemplates")) == 0 {
		t.Error("no volumeClaimTemplates: nodes would lose their data with their pods")
	}
	flags := serveFlags(t)

	c := list(sts, "spec", "template", "spec", "containers")[0]
	if args := list(c, "args"); len(args) == 0 || str(args[0]) != "serve" {
		t.Errorf("container args %v, want serve", args)
	}
	env := map[string]string{}
	for _, e := range list(c, "env") {
		name := str(e, "name")
		env[name] = str(e, "value")
		if flag, ok := strings.CutPrefix(name, "LATTICE_"); ok {
			flag = strings.ToLower(strings.ReplaceAll(flag, "_", "-"))
			if _, known := flags[flag]; !known {
				t.Errorf("env %s: lattice serve has no --%s", name, flag)
			}
		}
	}
	port := func(flag string) string {
		v, ok := env["LATTICE_"+strings.ToUpper(flag)]
		if !ok {
			v = flags[flag]
		}
		_, p, err := net.SplitHostPort(v)
		if err != nil {
			t.Fatalf("--%s %q: %v", flag, v, err)
		}
		return p
	}
	ports := map[string]string{} // name → containerPort
	for _, p := range list(c, "ports") {
		ports[str(p, "name")] = str(p, "containerPort")
	}
	if ports["http"] != port("http") {
		t.Errorf("containerPort http %s, but the node listens on %s", ports["http"], port("http"))
	}
	for _, name := range []string{"gossip-tcp", "gossip-udp"} {
		if ports[name] != port("gossip") {
			t.Errorf("containerPort %s %s, but memberlist binds %s", name, ports[name], port("gossip"))
		}
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		get := get(c, probe, "httpGet")
		if get == nil || str(get, "path") != path {
			t.Errorf("%s: want httpGet %s", probe, path)
			continue
		}
		if p := str(get, "port"); p != "http" && p != port("http") {
			t.Errorf("%s port %s is not the HTTP port", probe, p)
		}
	}
	if _, ok := env["LATTICE_AUTH_KEY"]; !ok && env["LATTICE_DEV"] != "true" {
		t.Error("neither LATTICE_AUTH_KEY nor LATTICE_DEV=true: lattice serve refuses to start")
	}
	if _, ok := env["LATTICE_DEV"]; ok {
		t.Error("LATTICE_DEV in a production manifest: the nodes would run without auth")
	}
	if _, ok := env["LATTICE_ADVERTISE"]; !ok {
		t.Error("no LATTICE_ADVERTISE: memberlist would guess the pod's address")
	}
	replicas, _ := strconv.Atoi(str(sts, "spec", "replicas"))
	for i := range replicas {
		want := fmt.Sprintf("%s-%d.%s:%s", str(sts, "metadata", "name"), i, str(headless, "metadata", "name"), port("gossip"))
		if !strings.Contains(","+env["LATTICE_JOIN"]+",", ","+want+",") {
			t.Errorf("LATTICE_JOIN %q lacks %s", env["LATTICE_JOIN"], want)
		}
	}
	if u := str(sts, "spec", "template", "spec", "securityContext", "runAsUser"); u != "65532" {
		t.Errorf("runAsUser %q, want the Dockerfile's 65532", u)
	}
}

// serveFlags runs `lattice serve -h` and returns its flags and defaults.
func serveFlags(t *testing.T) map[string]string {
	t.Helper()
	out, _ := exec.Command("go", "run", "../../cmd/lattice", "serve", "-h").CombinedOutput()
	flags := map[string]string{}
	re := regexp.MustCompile(`(?m)^  -([a-z-]+)(?: \w+)?\n(?:.*\(default "?([^"\n)]*)"?\)\n)?`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = m[2]
	}
	if flags["http"] == "" || flags["gossip"] == "" {
		t.Fatalf("could not read the flags of lattice serve -h:\n%s", out)
	}
	return flags
}

func keys(m map[string]node) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
