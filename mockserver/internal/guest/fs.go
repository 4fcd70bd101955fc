package guest

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// node is a file or directory of the in-memory file system. Everything is
// owned by root, as files the real server writes are.
type node struct {
	name  string
	dir   bool
	perm  fs.FileMode
	mtime time.Time
	data  []byte
	kids  map[string]*node
}

func newDir(name string, perm fs.FileMode, now time.Time) *node {
	return &node{name: name, dir: true, perm: perm, mtime: now, kids: map[string]*node{}}
}

// sortedKids returns the children in name order.
func (n *node) sortedKids() []*node {
	out := make([]*node, 0, len(n.kids))
	for _, k := range n.kids {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return out
}

// File system errors, worded like the operating system's.
var (
	errNotExist = fs.ErrNotExist
	errNotDir   = errors.New("not a directory")
	errIsDir    = errors.New("is a directory")
	errNotEmpty = errors.New("directory not empty")
	errBusy     = errors.New("device or resource busy")
)

func pathErr(op, p string, err error) error { return &fs.PathError{Op: op, Path: p, Err: err} }

// splitPath returns the elements of a clean absolute path.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// lookupLocked returns the node at the clean absolute path p.
func (g *Guest) lookupLocked(p string) (*node, error) {
	n := g.root
	for _, el := range splitPath(p) {
		if !n.dir {
			return nil, pathErr("stat", p, errNotDir)
		}
		k, ok := n.kids[el]
		if !ok {
			return nil, pathErr("stat", p, errNotExist)
		}
		n = k
	}
	return n, nil
}

// mkdirAllLocked creates p and its missing parents with perm, reporting a
// CREATE event for each directory made when notify is set.
func (g *Guest) mkdirAllLocked(p string, perm fs.FileMode, notify bool) (*node, error) {
	now := g.clk.Now()
	n, cur := g.root, ""
	for _, el := range splitPath(p) {
		cur += "/" + el
		k, ok := n.kids[el]
		switch {
		case !ok:
			k = newDir(el, perm, now)
			n.kids[el] = k
			n.mtime = now
			if notify {
				g.emitLocked("CREATE", cur)
			}
		case !k.dir:
			return nil, pathErr("mkdir", cur, errNotDir)
		}
		n = k
	}
	return n, nil
}

// writeFileLocked creates or replaces the file at p, creating missing
// parent directories. Unless setPerm is set, an existing file keeps its
// mode and a new one gets 0644.
func (g *Guest) writeFileLocked(p string, data []byte, perm fs.FileMode, setPerm bool) error {
	if p == "/" {
		return pathErr("open", p, errIsDir)
	}
	parent, err := g.mkdirAllLocked(path.Dir(p), 0o755, true)
	if err != nil {
		return err
	}
	now := g.clk.Now()
	name := path.Base(p)
	n, ok := parent.kids[name]
	switch {
	case ok && n.dir:
		return pathErr("open", p, errIsDir)
	case !ok:
		if !setPerm {
			perm = 0o644
		}
		n = &node{name: name, perm: perm}
		parent.kids[name] = n
		parent.mtime = now
		g.emitLocked("CREATE", p)
	case setPerm && n.perm != perm:
		n.perm = perm
		g.emitLocked("CHMOD", p)
	}
	n.data = slices.Clone(data)
	n.mtime = now
	if ok || len(data) > 0 {
		g.emitLocked("WRITE", p)
	}
	return nil
}

// removeLocked deletes the file or directory at p. A directory with
// entries needs recursive; its content is reported removed deepest first.
func (g *Guest) removeLocked(p string, recursive bool) error {
	if p == "/" {
		return pathErr("remove", p, errBusy)
	}
	parent, err := g.lookupLocked(path.Dir(p))
	if err != nil || !parent.dir {
		return pathErr("remove", p, errNotExist)
	}
	n, ok := parent.kids[path.Base(p)]
	if !ok {
		return pathErr("remove", p, errNotExist)
	}
	if n.dir && len(n.kids) > 0 && !recursive {
		return pathErr("remove", p, errNotEmpty)
	}
	g.emitRemovedLocked(n, p)
	delete(parent.kids, n.name)
	parent.mtime = g.clk.Now()
	return nil
}

func (g *Guest) emitRemovedLocked(n *node, p string) {
	for _, k := range n.sortedKids() {
		g.emitRemovedLocked(k, path.Join(p, k.name))
	}
	g.emitLocked("REMOVE", p)
}

// walkLocked calls fn for root and every node below it, in lexical order.
// fn returns false to skip a directory's content.
func walkLocked(root *node, p string, fn func(p string, n *node) bool) {
	if !fn(p, root) || !root.dir {
		return
	}
	for _, k := range root.sortedKids() {
		walkLocked(k, path.Join(p, k.name), fn)
	}
}

// perm formats mode bits the way the real server does (%o: "644").
func permString(m fs.FileMode) string { return strconv.FormatUint(uint64(m.Perm()), 8) }

// parsePerm parses octal mode bits such as "0644" or "755".
func parsePerm(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil || v > 0o7777 {
		return 0, errors.New("invalid octal mode")
	}
	return fs.FileMode(v), nil
}

func fileAPI(p string, n *node) sandboxsrv.File {
	return sandboxsrv.File{
		Path:         p,
		Name:         sandboxsrv.NewOptString(path.Base(p)),
		Permissions:  permString(n.perm),
		Size:         int64(len(n.data)),
		LastModified: n.mtime.UTC().Format(time.RFC3339Nano),
		Owner:        "root",
		Group:        "root",
	}
}

func fileWithContentAPI(p string, n *node) sandboxsrv.FileWithContent {
	f := fileAPI(p, n)
	return sandboxsrv.FileWithContent{
		Path: f.Path, Name: f.Name, Permissions: f.Permissions, Size: f.Size,
		LastModified: f.LastModified, Owner: f.Owner, Group: f.Group,
		Content: string(n.data),
	}
}

// listingLocked is the one-level listing of directory n at p.
func listingLocked(p string, n *node) sandboxsrv.Directory {
	d := sandboxsrv.Directory{
		Path:           p,
		Name:           sandboxsrv.NewOptString(path.Base(p)),
		Files:          []sandboxsrv.File{},
		Subdirectories: []sandboxsrv.Subdirectory{},
	}
	for _, k := range n.sortedKids() {
		kp := path.Join(p, k.name)
		if k.dir {
			d.Subdirectories = append(d.Subdirectories, sandboxsrv.Subdirectory{Path: kp, Name: sandboxsrv.NewOptString(k.name)})
		} else {
			d.Files = append(d.Files, fileAPI(kp, k))
		}
	}
	return d
}

// WriteFile creates or replaces the file at p (absolute, or relative to
// the working directory), creating missing parent directories, as PUT
// /filesystem/{path} does. Watchers see the change.
func (g *Guest) WriteFile(p string, data []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writeFileLocked(g.abs(p), data, 0, false)
}

// ReadFile returns the content of the file at p (absolute, or relative to
// the working directory).
func (g *Guest) ReadFile(p string) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ap := g.abs(p)
	n, err := g.lookupLocked(ap)
	if err != nil {
		return nil, pathErr("open", ap, errNotExist)
	}
	if n.dir {
		return nil, pathErr("read", ap, errIsDir)
	}
	return slices.Clone(n.data), nil
}
