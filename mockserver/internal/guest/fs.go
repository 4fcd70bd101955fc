package guest

import (
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxsrv"
)

// umask is applied to the mode of every file and directory created, as
// the real server's process umask (022) is.
const umask fs.FileMode = 0o022

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

// osErr is a file system error worded as the operating system words it
// ("no such file or directory").
type osErr string

func (e osErr) Error() string { return string(e) }

const (
	errNotExist osErr = "no such file or directory"
	errNotDir   osErr = "not a directory"
	errIsDir    osErr = "is a directory"
	errExist    osErr = "file exists"
	errNotEmpty osErr = "directory not empty"
	errBusy     osErr = "device or resource busy"
)

// pathErr builds the error Go's os package would return: "op path: err".
func pathErr(op, p string, err error) error { return &fs.PathError{Op: op, Path: p, Err: err} }

// splitPath returns the elements of a clean absolute path.
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// lookupLocked returns the node at the clean absolute path p, failing
// like stat(2).
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

// parentLocked returns the directory that holds p, failing like the
// system call op would.
func (g *Guest) parentLocked(op, p string) (*node, error) {
	parent, err := g.lookupLocked(path.Dir(p))
	if err != nil {
		return nil, pathErr(op, p, err.(*fs.PathError).Err)
	}
	if !parent.dir {
		return nil, pathErr(op, p, errNotDir)
	}
	return parent, nil
}

// mkdirLocked creates one directory, like mkdir(2).
func (g *Guest) mkdirLocked(p string, perm fs.FileMode) error {
	if p == "/" {
		return pathErr("mkdir", p, errExist)
	}
	parent, err := g.parentLocked("mkdir", p)
	if err != nil {
		return err
	}
	if _, ok := parent.kids[path.Base(p)]; ok {
		return pathErr("mkdir", p, errExist)
	}
	now := g.clk.Now()
	parent.kids[path.Base(p)] = newDir(path.Base(p), perm, now)
	parent.mtime = now
	g.emitLocked("CREATE", p)
	return nil
}

// mkdirAllLocked creates p and its missing parents with perm (already
// masked), like os.MkdirAll, reporting a CREATE event for each directory
// made when notify is set.
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

// createLocked adds an empty file to parent.
func (g *Guest) createLocked(parent *node, p string, perm fs.FileMode) *node {
	now := g.clk.Now()
	n := &node{name: path.Base(p), perm: perm &^ umask, mtime: now}
	parent.kids[n.name] = n
	parent.mtime = now
	g.emitLocked("CREATE", p)
	return n
}

// writeFileLocked writes data to the file at p like os.WriteFile: the
// parent must exist; a new file gets perm (masked by the umask), an
// existing one keeps its mode.
func (g *Guest) writeFileLocked(p string, data []byte, perm fs.FileMode) error {
	if p == "/" {
		return pathErr("open", p, errIsDir)
	}
	parent, err := g.parentLocked("open", p)
	if err != nil {
		return err
	}
	n, ok := parent.kids[path.Base(p)]
	switch {
	case ok && n.dir:
		return pathErr("open", p, errIsDir)
	case !ok:
		n = g.createLocked(parent, p, perm)
	}
	n.data = slices.Clone(data)
	n.mtime = g.clk.Now()
	if ok || len(data) > 0 {
		g.emitLocked("WRITE", p)
	}
	return nil
}

// openFileLocked opens the file at p for writing, creating it (mode 0666
// masked) when missing and emptying it when trunc is set.
func (g *Guest) openFileLocked(p string, trunc bool) (*node, error) {
	if p == "/" {
		return nil, errIsDir
	}
	parent, err := g.parentLocked("open", p)
	if err != nil {
		return nil, err.(*fs.PathError).Err
	}
	n, ok := parent.kids[path.Base(p)]
	switch {
	case ok && n.dir:
		return nil, errIsDir
	case !ok:
		return g.createLocked(parent, p, 0o666), nil
	case trunc && len(n.data) > 0:
		n.data = nil
		n.mtime = g.clk.Now()
		g.emitLocked("WRITE", p)
	}
	return n, nil
}

// appendNodeLocked appends b to the open file n, reported as a write of
// p while n is still there.
func (g *Guest) appendNodeLocked(n *node, p string, b []byte) {
	n.data = append(n.data, b...)
	n.mtime = g.clk.Now()
	if cur, err := g.lookupLocked(p); err == nil && cur == n {
		g.emitLocked("WRITE", p)
	}
}

// removeLocked deletes the file or directory at p. A directory with
// entries needs recursive; its content is reported removed deepest first.
func (g *Guest) removeLocked(p string, recursive bool) error {
	if p == "/" {
		return pathErr("remove", p, errBusy)
	}
	parent, err := g.parentLocked("remove", p)
	if err != nil {
		return err
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

// renameLocked moves src to dst like rename(2).
func (g *Guest) renameLocked(src, dst string) error {
	sp, err := g.parentLocked("rename", src)
	if err != nil {
		return err
	}
	n, ok := sp.kids[path.Base(src)]
	if !ok {
		return pathErr("rename", src, errNotExist)
	}
	dp, err := g.parentLocked("rename", dst)
	if err != nil {
		return err
	}
	if src == dst {
		return nil
	}
	if n.dir && (dst == src || strings.HasPrefix(dst, src+"/")) {
		return pathErr("rename", dst, osErr("invalid argument"))
	}
	if old, ok := dp.kids[path.Base(dst)]; ok {
		switch {
		case old.dir && !n.dir:
			return pathErr("rename", dst, errIsDir)
		case !old.dir && n.dir:
			return pathErr("rename", dst, errNotDir)
		case old.dir && len(old.kids) > 0:
			return pathErr("rename", dst, errNotEmpty)
		}
	}
	now := g.clk.Now()
	delete(sp.kids, n.name)
	g.emitLocked("RENAME", src)
	n.name = path.Base(dst)
	dp.kids[n.name] = n
	sp.mtime, dp.mtime = now, now
	g.emitLocked("CREATE", dst)
	return nil
}

// copyTreeLocked copies the file or directory src to dst.
func (g *Guest) copyTreeLocked(src *node, dst string) error {
	if !src.dir {
		return g.writeFileLocked(dst, src.data, src.perm)
	}
	if _, err := g.lookupLocked(dst); err != nil {
		if err := g.mkdirLocked(dst, src.perm); err != nil {
			return err
		}
	}
	for _, k := range src.sortedKids() {
		if err := g.copyTreeLocked(k, path.Join(dst, k.name)); err != nil {
			return err
		}
	}
	return nil
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

// permString formats mode bits the way the real server does (%o: "644").
func permString(m fs.FileMode) string { return strconv.FormatUint(uint64(m.Perm()), 8) }

// parsePerm parses octal mode bits such as "0644" or "755" the way the
// real server does (strconv.ParseUint with base 8 and 32 bits).
func parsePerm(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, err
	}
	return fs.FileMode(v).Perm(), nil
}

// timeJSON formats a modification time as Go's JSON encoding of a
// time.Time does.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fileAPI is the listing entry of file n shown at display path p.
func fileAPI(p string, n *node) sandboxsrv.File {
	return sandboxsrv.File{
		Path:         p,
		Name:         sandboxsrv.NewOptString(path.Base(p)),
		Permissions:  permString(n.perm),
		Size:         int64(len(n.data)),
		LastModified: timeJSON(n.mtime),
		Owner:        "root",
		Group:        "root",
	}
}

// fileWithContentAPI is GET of a file as JSON: as on the real server the
// name is empty.
func fileWithContentAPI(p string, n *node) sandboxsrv.FileWithContent {
	f := fileAPI(p, n)
	return sandboxsrv.FileWithContent{
		Path: f.Path, Name: sandboxsrv.NewOptString(""), Permissions: f.Permissions, Size: f.Size,
		LastModified: f.LastModified, Owner: f.Owner, Group: f.Group,
		Content: string(n.data),
	}
}

// listingLocked is the one-level listing of directory n, shown at display
// path p (entry paths are joined to it: relative stays relative).
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
	ap := g.abs(p)
	if _, err := g.mkdirAllLocked(path.Dir(ap), 0o755&^umask, true); err != nil {
		return err
	}
	return g.writeFileLocked(ap, data, 0o644)
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
