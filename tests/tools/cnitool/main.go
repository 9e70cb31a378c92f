// vp-cnitool - a small libcni client for vplumb's integration tests.
//
// It drives a conflist through the real runtime path (libcni's
// AddNetworkList/CheckNetworkList/DelNetworkList, with its result cache) so
// the tests see plugins exactly as containerd or CRI-O would call them.
//
//	vp-cnitool add|check|del CONFLIST_FILE NETNS_PATH CONTAINER_ID IFNAME
//	           [--cni-path DIRS] [--args K=V;..] [--capability-args JSON]
//	           [--cache-dir DIR]
//
// ADD prints the result JSON on stdout.  On failure the error goes to stderr
// (for a plugin error: its CNI code and message, and one JSON line) and the
// exit status is 1; a usage error exits 2.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

const usage = `usage: vp-cnitool add|check|del CONFLIST_FILE NETNS_PATH CONTAINER_ID IFNAME
       [--cni-path DIRS] [--args K=V;..] [--capability-args JSON] [--cache-dir DIR]
  --cni-path         colon-separated plugin dirs (default $CNI_PATH, else /opt/cni/bin)
  --args             CNI_ARGS pairs, "K=V;K=V"
  --capability-args  JSON object of runtime capabilities (e.g. portMappings)
  --cache-dir        libcni result cache (default $VP_CNI_CACHE_DIR, else $TMPDIR/vp-cnitool-cache)
`

type options struct {
	verb, conflist, netns, containerID, ifname string
	cniPath, args, capArgs, cacheDir           string
}

func usageError(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "vp-cnitool: "+format+"\n", a...)
	fmt.Fprint(os.Stderr, usage)
	os.Exit(2)
}

// parseOptions splits argv into the five positional arguments and the flags
// (accepted anywhere, as "--flag VALUE" or "--flag=VALUE").
func parseOptions(argv []string) options {
	var o options
	o.cniPath = os.Getenv("CNI_PATH")
	if o.cniPath == "" {
		o.cniPath = "/opt/cni/bin"
	}
	o.cacheDir = os.Getenv("VP_CNI_CACHE_DIR")
	if o.cacheDir == "" {
		o.cacheDir = filepath.Join(os.TempDir(), "vp-cnitool-cache")
	}
	flags := map[string]*string{
		"--cni-path": &o.cniPath, "--args": &o.args,
		"--capability-args": &o.capArgs, "--cache-dir": &o.cacheDir,
	}
	var pos []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "-h" || a == "--help" {
			fmt.Print(usage)
			os.Exit(0)
		}
		if !strings.HasPrefix(a, "--") {
			pos = append(pos, a)
			continue
		}
		name, value, inline := strings.Cut(a, "=")
		dst, ok := flags[name]
		if !ok {
			usageError("unknown option %q", name)
		}
		if !inline {
			if i+1 >= len(argv) {
				usageError("option %s needs a value", name)
			}
			i++
			value = argv[i]
		}
		*dst = value
	}
	if len(pos) != 5 {
		usageError("expected 5 arguments, got %d", len(pos))
	}
	o.verb, o.conflist, o.netns, o.containerID, o.ifname = pos[0], pos[1], pos[2], pos[3], pos[4]
	return o
}

// runtimeConf builds libcni's RuntimeConf from the options.
func runtimeConf(o options) (*libcni.RuntimeConf, error) {
	rt := &libcni.RuntimeConf{ContainerID: o.containerID, NetNS: o.netns, IfName: o.ifname}
	for _, kv := range strings.Split(o.args, ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--args: %q is not K=V", kv)
		}
		rt.Args = append(rt.Args, [2]string{k, v})
	}
	if o.capArgs != "" {
		if err := json.Unmarshal([]byte(o.capArgs), &rt.CapabilityArgs); err != nil {
			return nil, fmt.Errorf("--capability-args: %w", err)
		}
	}
	return rt, nil
}

// run performs the verb; ADD's result is printed on stdout.
func run(o options) error {
	list, err := libcni.ConfListFromFile(o.conflist)
	if err != nil {
		return err
	}
	rt, err := runtimeConf(o)
	if err != nil {
		return err
	}
	paths := filepath.SplitList(o.cniPath)
	cni := libcni.NewCNIConfigWithCacheDir(paths, o.cacheDir, nil)
	ctx := context.Background()
	switch o.verb {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(out))
		return nil
	case "check":
		return cni.CheckNetworkList(ctx, list, rt)
	case "del":
		return cni.DelNetworkList(ctx, list, rt)
	}
	return fmt.Errorf("unknown verb %q", o.verb)
}

// report prints err on stderr: a plugin's *types.Error with its code, msg and
// details (human line, then JSON), anything else as text.
func report(verb string, err error) {
	var cerr *types.Error
	if errors.As(err, &cerr) {
		fmt.Fprintf(os.Stderr, "vp-cnitool: %s: %v\n", verb, err)
		fmt.Fprintf(os.Stderr, "vp-cnitool: code=%d msg=%q details=%q\n", cerr.Code, cerr.Msg, cerr.Details)
		if js, jerr := json.Marshal(cerr); jerr == nil {
			fmt.Fprintln(os.Stderr, string(js))
		}
		return
	}
	fmt.Fprintf(os.Stderr, "vp-cnitool: %s: %v\n", verb, err)
}

func main() {
	o := parseOptions(os.Args[1:])
	switch o.verb {
	case "add", "check", "del":
	default:
		usageError("unknown verb %q", o.verb)
	}
	if err := run(o); err != nil {
		report(o.verb, err)
		os.Exit(1)
	}
}
