package gitops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Argo CD's health statuses (github.com/argoproj/gitops-engine/pkg/health), as a health script
// returns them.
const (
	healthy     = "Healthy"
	progressing = "Progressing"
	degraded    = "Degraded"
	suspended   = "Suspended"
	missing     = "Missing"
	unknown     = "Unknown"
)

// apiGroup is the group of every kind; Argo CD keys health checks by group and kind.
const apiGroup = "connectivity.workersvpc.dev"

// kinds are the operator's kinds. One script, health.lua in customizationDir, serves them all.
var kinds = []string{"ConnectivityService", "CloudflareTunnel", "CloudflareAccount", "ClusterCloudflareAccount"}

// argocdDir holds the argocd-cm snippet for users and the health check laid out for Argo CD.
var argocdDir = filepath.Join("..", "..", "gitops", "argocd")

// customizationDir is the health check as Argo CD's repository keeps a built-in one
// (resource_customizations/<group>/<kind>, "_" for any kind): health.lua, health_test.yaml and
// the inputs of its cases in testdata/. It is the only copy of the script.
var customizationDir = filepath.Join(argocdDir, "resource_customizations", apiGroup, "_")

// health is what an Argo CD health script returns.
type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// healthScript reads the health check that serves every kind.
func healthScript() string {
	data, err := os.ReadFile(filepath.Join(customizationDir, "health.lua"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return string(data)
}

// luaValue converts one value of an unstructured object to Lua the way Argo CD does
// (decodeValue in argo-cd util/lua): objects become tables keyed by string, arrays become
// sequences indexed from 1, every number becomes a Lua number, and null becomes nil.
func luaValue(state *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v) // as Argo CD does; unstructured objects hold int64 and float64 instead
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		arr := state.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(luaValue(state, item))
		}
		return arr
	case map[string]any:
		return luaTable(state, v)
	}
	panic(fmt.Sprintf("no Lua conversion for %T", value))
}

// luaTable converts an unstructured object (or any JSON object) to a Lua table.
func luaTable(state *lua.LState, obj map[string]any) *lua.LTable {
	tbl := state.CreateTable(0, len(obj))
	for key, item := range obj {
		tbl.RawSetString(key, luaValue(state, item))
	}
	return tbl
}

// runHealthScript runs a health script on obj in a VM set up as Argo CD sets one up for a health
// check from argocd-cm: no standard libraries but package, base and table (Argo CD adds a
// trimmed os; these scripts do not use it), a one-second deadline, the object in the global
// `obj`, and the script's return value as the result. It also checks the Argo CD convention that
// the result is the global `hs`.
func runHealthScript(script string, obj map[string]any) (health, error) {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := state.CallByParam(lua.P{Fn: state.NewFunction(lib.open), NRet: 0, Protect: true},
			lua.LString(lib.name)); err != nil {
			return health{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	state.SetContext(ctx)
	state.SetGlobal("obj", luaTable(state, obj))
	if err := state.DoString(script); err != nil {
		return health{}, err
	}
	result, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("the script returned %s, not a table", state.Get(-1).Type())
	}
	if state.GetGlobal("hs") != result {
		return health{}, fmt.Errorf("the script did not return the global hs")
	}
	var h health
	var err error
	result.ForEach(func(key, value lua.LValue) {
		str, isString := value.(lua.LString)
		switch {
		case !isString:
			err = fmt.Errorf("hs.%s is a %s, not a string", key, value.Type())
		case key.String() == "status":
			h.Status = string(str)
		case key.String() == "message":
			h.Message = string(str)
		default:
			err = fmt.Errorf("hs has the unexpected field %q", key.String())
		}
	})
	if err != nil {
		return health{}, err
	}
	switch h.Status {
	case healthy, progressing, degraded, suspended, missing, unknown:
		return h, nil
	}
	return health{}, fmt.Errorf("hs.status %q is not an Argo CD health status", h.Status)
}

// loadFixture reads a YAML object, at an inputPath of health_test.yaml (relative to
// customizationDir), as an unstructured object: integers come out as int64, as in the live
// objects Argo CD and kstatus read.
func loadFixture(inputPath string) *unstructured.Unstructured {
	data, err := os.ReadFile(filepath.Join(customizationDir, filepath.FromSlash(inputPath)))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	js, err := yaml.YAMLToJSON(data)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	ExpectWithOffset(1, u.UnmarshalJSON(js)).To(Succeed())
	return u
}
