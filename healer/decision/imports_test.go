package decision

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The boundary of this package, checked rather than only written down (doc.go): its non-test
// files import the standard library and hooks only, none of the standard packages that do I/O,
// randomness or logging, and never read the clock.

// allowedModule is the one import outside the standard library.
const allowedModule = "github.com/redhook/redhook/hooks"

// forbiddenStd are standard packages whose only use here would be I/O, randomness or logging.
var forbiddenStd = map[string]bool{
	"os": true, "os/exec": true, "os/signal": true, "io/fs": true, "syscall": true,
	"net/http": true, "log": true, "log/slog": true,
	"math/rand": true, "math/rand/v2": true, "crypto/rand": true,
}

// clockReads are the functions of package time that read or wait on the clock.
var clockReads = map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true,
	"After": true, "AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true}

func TestImportsStayPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly|parser.ParseComments)
		require.NoError(t, err)
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			assert.True(t, path == allowedModule || isStd(path), "%s imports %s: only the standard library and hooks", name, path)
			assert.False(t, forbiddenStd[path], "%s imports %s: no I/O, randomness or logging here", name, path)
		}
	}
	require.NotZero(t, checked, "no source files found")
}

func TestNoClock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		timeName := timeImportName(f)
		if timeName == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == timeName && clockReads[sel.Sel.Name] {
				t.Errorf("%s: time.%s reads the clock: the caller passes the time in", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

// isStd tells whether an import path is in the standard library: its first element has no dot,
// the rule the go command itself uses.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// timeImportName is the name under which f imports package time; empty when it does not.
func timeImportName(f *ast.File) string {
	for _, imp := range f.Imports {
		if imp.Path.Value != `"time"` {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return "time"
	}
	return ""
}

func TestIsStd(t *testing.T) {
	for path, want := range map[string]bool{"fmt": true, "go/ast": true, "net": true,
		allowedModule: false, "github.com/redis/rueidis": false, "k8s.io/apimachinery/pkg/apis/meta/v1": false} {
		assert.Equal(t, want, isStd(path), path)
	}
}
