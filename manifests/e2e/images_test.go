//go:build e2e

package e2e

// Images without a registry or a Docker daemon, written as one docker-archive (manifest.json,
// one config and one layer tar per image) that `ctr images import` reads:
//   - the pause image: testdata/e2e/pause, static, alone in its image;
//   - redis:7.2.7 (the examples' image name): Debian's redis-server (redis-sentinel is the same
//     binary), redis-cli, busybox-static with its applets (the shell of the scripts redhook
//     renders) and the libraries ldd lists. The Redis version is Debian's, not 7.2.7;
//   - the two exporter images the exporter examples name: the same files with an entrypoint that
//     only sleeps (the exporters cannot be fetched; their containers run, serve nothing);
//   - redhook: the last stage of the repository's Dockerfile, built by dockerfileImage.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// fileEntry is one entry of a layer.
type fileEntry struct {
	path    string // in the image, absolute
	mode    int64
	dir     bool
	link    string // symlink target
	content []byte
}

// imageConfig is the part of an OCI/Docker image config the images use.
type imageConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
}

type image struct {
	tags   []string
	config imageConfig
	files  []fileEntry
}

// layer writes the entries as a tar, parents first, with fixed times and owners.
func layer(files []fileEntry) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	mtime := time.Unix(0, 0)
	var addDir func(p string) error
	addDir = func(p string) error {
		if p == "/" || p == "." || seen[p] {
			return nil
		}
		if err := addDir(filepath.Dir(p)); err != nil {
			return err
		}
		seen[p] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: 0o755, ModTime: mtime})
	}
	for _, f := range files {
		if err := addDir(filepath.Dir(f.path)); err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(f.path, "/")
		switch {
		case f.dir:
			if seen[f.path] {
				continue
			}
			seen[f.path] = true
			mode := f.mode
			if mode == 0 {
				mode = 0o755
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mtime}); err != nil {
				return nil, err
			}
		case f.link != "":
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: f.link, Mode: 0o777, ModTime: mtime}); err != nil {
				return nil, err
			}
		default:
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: f.mode, Size: int64(len(f.content)), ModTime: mtime}); err != nil {
				return nil, err
			}
			if _, err := tw.Write(f.content); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeArchive writes images as one docker-archive.
func writeArchive(path string, images []image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	type manifestEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []manifestEntry
	written := map[string]bool{}
	for _, img := range images {
		l, err := layer(img.files)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(l)
		diffID := hex.EncodeToString(sum[:])
		layerName := diffID + "/layer.tar"
		if !written[layerName] {
			if err := add(layerName, l); err != nil {
				return err
			}
			written[layerName] = true
		}
		cfg, err := json.Marshal(map[string]any{
			"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
			"config": img.config,
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
		})
		if err != nil {
			return err
		}
		csum := sha256.Sum256(cfg)
		cfgName := hex.EncodeToString(csum[:]) + ".json"
		if !written[cfgName] {
			if err := add(cfgName, cfg); err != nil {
				return err
			}
			written[cfgName] = true
		}
		manifest = append(manifest, manifestEntry{Config: cfgName, RepoTags: img.tags, Layers: []string{layerName}})
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := add("manifest.json", m); err != nil {
		return err
	}
	return tw.Close()
}

// hostFile is a file of the machine at the same path in the image (symlinks resolved).
func hostFile(path string) (fileEntry, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileEntry{}, err
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return fileEntry{}, err
	}
	st, err := os.Stat(real)
	if err != nil {
		return fileEntry{}, err
	}
	return fileEntry{path: path, mode: int64(st.Mode().Perm()), content: b}, nil
}

var lddPath = regexp.MustCompile(`(/[^\s]+\.so[^\s]*)`)

// libraries are the shared libraries ldd lists for the binaries, with the dynamic loader.
func (c *cluster) libraries(ctx context.Context, bins ...string) ([]fileEntry, error) {
	seen := map[string]bool{}
	var out []fileEntry
	for _, b := range bins {
		text, err := sh(ctx, c.tools.bin["ldd"], b)
		if err != nil {
			return nil, err
		}
		for _, m := range lddPath.FindAllString(text, -1) {
			if seen[m] {
				continue
			}
			seen[m] = true
			f, err := hostFile(m)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// redisFiles is the root filesystem of the redis image.
func (c *cluster) redisFiles(ctx context.Context) ([]fileEntry, error) {
	server, cli, busybox := c.tools.bin["redis-server"], c.tools.bin["redis-cli"], c.tools.bin["busybox"]
	var files []fileEntry
	for _, p := range []struct{ host, image string }{
		{server, "/usr/bin/redis-server"}, {cli, "/usr/bin/redis-cli"}, {busybox, "/bin/busybox"},
	} {
		f, err := hostFile(p.host)
		if err != nil {
			return nil, err
		}
		f.path = p.image
		files = append(files, f)
	}
	files = append(files, fileEntry{path: "/usr/bin/redis-sentinel", link: "redis-server"})
	libs, err := c.libraries(ctx, server, cli)
	if err != nil {
		return nil, err
	}
	files = append(files, libs...)
	list, err := sh(ctx, busybox, "--list")
	if err != nil {
		return nil, err
	}
	for _, applet := range strings.Fields(list) {
		if applet == "busybox" {
			continue
		}
		files = append(files, fileEntry{path: "/bin/" + applet, link: "busybox"})
	}
	files = append(files,
		fileEntry{path: "/usr/local/bin", dir: true},
		fileEntry{path: "/data", dir: true, mode: 0o777},
		fileEntry{path: "/tmp", dir: true, mode: 0o1777},
		fileEntry{path: "/etc/passwd", mode: 0o644, content: []byte("root:x:0:0:root:/root:/bin/sh\nredis:x:999:1000:redis:/data:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		fileEntry{path: "/etc/group", mode: 0o644, content: []byte("root:x:0:\nredis:x:1000:\nnogroup:x:65534:\n")},
	)
	return files, nil
}

// buildImages writes the archive of every image the cluster needs.
func (c *cluster) buildImages(ctx context.Context) error {
	start := time.Now()
	dir := filepath.Join(c.dir, "images")
	pauseBin := filepath.Join(dir, "pause")
	if out, err := goBuild(ctx, pauseBin, "./testdata/e2e/pause"); err != nil {
		return fmt.Errorf("pause: %w\n%s", err, out)
	}
	pause, err := hostFile(pauseBin)
	if err != nil {
		return err
	}
	pause.path = "/pause"
	redis, err := c.redisFiles(ctx)
	if err != nil {
		return fmt.Errorf("redis image: %w", err)
	}
	redhook, err := dockerfileImage(ctx, repoRoot(), redhookImage)
	if err != nil {
		return fmt.Errorf("redhook image: %w", err)
	}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	sleep := imageConfig{Env: env, Entrypoint: []string{"/bin/sh", "-c", "exec sleep 2147483647", "exporter-stand-in"}}
	images := []image{
		{tags: []string{pauseImage}, config: imageConfig{Entrypoint: []string{"/pause"}}, files: []fileEntry{pause}},
		{tags: []string{redisImage}, config: imageConfig{Env: env, Cmd: []string{"redis-server"}, WorkingDir: "/data"}, files: redis},
		{tags: []string{"oliver006/redis_exporter:v1.67.0"}, config: sleep, files: redis},
		{tags: []string{"leominov/redis_sentinel_exporter:1.7.1"}, config: sleep, files: redis},
		redhook,
	}
	if err := writeArchive(filepath.Join(dir, "images.tar"), images); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e: images built in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// repoRoot is the repository's top directory (tests run in manifests/e2e).
func repoRoot() string {
	abs, _ := filepath.Abs("../..")
	return abs
}

// goBuild builds a static binary of a package of the repository.
func goBuild(ctx context.Context, out, pkg string) (string, error) {
	return shIn(ctx, repoRoot(), []string{"CGO_ENABLED=0"}, goBinary(), "build", "-trimpath", "-o", out, pkg)
}

// shIn runs a command in dir with extra environment; output is stdout and stderr.
func shIn(ctx context.Context, dir string, env []string, bin string, args ...string) (string, error) {
	cmd := execCommand(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dockerfileImage builds the last stage of dir/Dockerfile, which must start FROM scratch and use
// only COPY (from the build context), USER, EXPOSE and ENTRYPOINT (JSON form). Anything else is
// an error, so that the Dockerfile and this builder cannot drift apart unnoticed. The build
// context must hold what COPY names: `make build` writes bin/redhook first.
func dockerfileImage(ctx context.Context, dir, tag string) (image, error) {
	img := image{tags: []string{tag}}
	b, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return img, err
	}
	// Instructions, continuation lines joined, comments dropped.
	var instrs []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(t)
		instrs = append(instrs, cur.String())
		cur.Reset()
	}
	last := -1
	for i, in := range instrs {
		if strings.EqualFold(strings.Fields(in)[0], "FROM") {
			last = i
		}
	}
	if last < 0 {
		return img, fmt.Errorf("Dockerfile: no FROM")
	}
	if f := strings.Fields(instrs[last]); len(f) < 2 || f[1] != "scratch" {
		return img, fmt.Errorf("Dockerfile: the last stage must be FROM scratch, not %q", instrs[last])
	}
	needBuild := false
	for _, in := range instrs[last+1:] {
		f := strings.Fields(in)
		rest := strings.TrimSpace(strings.TrimPrefix(in, f[0]))
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if len(f) != 3 || strings.HasPrefix(f[1], "--") {
				return img, fmt.Errorf("Dockerfile: the builder supports COPY SRC DST from the context only: %q", in)
			}
			if f[1] == "bin/redhook" {
				needBuild = true
			}
			img.files = append(img.files, fileEntry{path: f[2], mode: -1, content: []byte(f[1])})
		case "USER":
			img.config.User = rest
		case "EXPOSE":
			img.config.ExposedPorts = map[string]struct{}{}
			for _, p := range f[1:] {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				img.config.ExposedPorts[p] = struct{}{}
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &img.config.Entrypoint); err != nil {
				return img, fmt.Errorf("Dockerfile: ENTRYPOINT must be the JSON form: %q", in)
			}
		default:
			return img, fmt.Errorf("Dockerfile: the image builder of the e2e tests does not support %q in the last stage "+
				"(FROM scratch, COPY, USER, EXPOSE, ENTRYPOINT): extend manifests/e2e/images_test.go", f[0])
		}
	}
	if needBuild {
		if out, err := shIn(ctx, dir, nil, "make", "build"); err != nil {
			return img, fmt.Errorf("make build: %w\n%s", err, out)
		}
	}
	for i, f := range img.files {
		src := filepath.Join(dir, string(f.content))
		data, err := os.ReadFile(src)
		if err != nil {
			return img, fmt.Errorf("COPY %s: %w", f.content, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return img, err
		}
		dst := f.path
		if strings.HasSuffix(dst, "/") {
			dst += filepath.Base(src)
		}
		img.files[i] = fileEntry{path: dst, mode: int64(st.Mode().Perm()), content: data}
	}
	// The image's PATH, as Docker sets it for an image without ENV.
	img.config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return img, nil
}

var _ = io.EOF
