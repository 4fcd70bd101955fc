package sandbox

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/internal/gen/sandboxapi"
)

// FileInfo describes a file.
type FileInfo struct {
	// Path is the file's path as the server reports it: relative when it
	// was listed through a relative path.
	Path string
	// Name is the last element of Path.
	Name string
	// Mode holds the permission bits.
	Mode os.FileMode
	// Size is the size in bytes.
	Size int64
	// ModTime is the modification time.
	ModTime time.Time
	// Owner and Group are user and group names (or ids when unknown).
	Owner, Group string
}

// DirEntry is a subdirectory in a listing.
type DirEntry struct {
	// Path is the directory's path; Name its last element.
	Path, Name string
}

// Directory is the listing of one directory (not recursive).
type Directory struct {
	// Path is the directory's path; Name its last element.
	Path, Name string
	// Files are the regular files directly inside.
	Files []FileInfo
	// Subdirectories are the directories directly inside.
	Subdirectories []DirEntry
}

// Read returns the content of a text file. Use [Client.Open] for binary
// or large files: the server sends the whole file inside a JSON string,
// and an answer larger than the client's limit ([sandboxkit.WithMaxResponseSize],
// 64 MiB by default) fails with [sandboxkit.ErrResponseTooLarge]. Reading a
// directory fails with [ErrIsDirectory].
//
// GET /filesystem/{path}
func (c *Client) Read(ctx context.Context, path string) (string, error) {
	if err := c.check(ctx, "Read"); err != nil {
		return "", err
	}
	r, _, err := c.getEntry(ctx, path)
	if err != nil {
		return "", wrap(ctx, "Read", err)
	}
	f, ok := r.GetFileWithContent()
	if !ok {
		return "", wrap(ctx, "Read", ErrIsDirectory)
	}
	return f.Content, nil
}

// ListDirectory returns the listing of a directory. Listing a file fails with
// [ErrNotDirectory].
//
// GET /filesystem/{path}
func (c *Client) ListDirectory(ctx context.Context, path string) (*Directory, error) {
	if err := c.check(ctx, "ListDirectory"); err != nil {
		return nil, err
	}
	r, changed, err := c.getEntry(ctx, path)
	if err != nil {
		return nil, wrap(ctx, "ListDirectory", err)
	}
	d, err := directoryResult(r)
	if err != nil {
		return nil, wrap(ctx, "ListDirectory", err)
	}
	if changed {
		d.Path = fsEcho(true, d.Path)
		for i := range d.Files {
			d.Files[i].Path = fsEcho(true, d.Files[i].Path)
		}
		for i := range d.Subdirectories {
			d.Subdirectories[i].Path = fsEcho(true, d.Subdirectories[i].Path)
		}
	}
	return d, nil
}

// getEntry reads a file or directory as JSON. changed reports that the
// path was sent as fsPath changed it.
func (c *Client) getEntry(ctx context.Context, path string) (_ *sandboxapi.FileOrDirectory, changed bool, _ error) {
	if err := checkPath("path", path); err != nil {
		return nil, false, err
	}
	wire, changed := fsPath(path)
	var body bodyOwner
	defer body.close()
	res, err := c.api.GetFilesystem(ctx, sandboxapi.GetFilesystemParams{Path: wire},
		body.option(nil), sandboxapi.WithEditRequest(func(r *http.Request) error {
			r.Header.Set("Accept", "application/json")
			return clearRawPath(r)
		}))
	if err != nil {
		return nil, changed, err
	}
	r, err := entryResult(res)
	return r, changed, err
}

// WriteOptions tunes [Client.Write].
type WriteOptions struct {
	// Permissions of the file (the server's default is 0644).
	Permissions os.FileMode
}

// Write creates or replaces a text file, creating missing parent
// directories. For binary content or large files use [Client.Upload].
//
// PUT /filesystem/{path}
func (c *Client) Write(ctx context.Context, path, content string, opts *WriteOptions) error {
	const op = "Write"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkPath("path", path); err != nil {
		return wrap(ctx, op, err)
	}
	req := &sandboxapi.FileRequest{Content: sandboxapi.NewOptString(content)}
	if opts != nil && opts.Permissions != 0 {
		if err := checkPerm("permissions", opts.Permissions); err != nil {
			return wrap(ctx, op, err)
		}
		req.Permissions = sandboxapi.NewOptString(permString(opts.Permissions))
	}
	return c.putFilesystem(ctx, op, path, req)
}

// MkdirOptions tunes [Client.Mkdir].
type MkdirOptions struct {
	// Permissions of the directory (the server's default is 0755).
	Permissions os.FileMode
}

// Mkdir creates a directory and any missing parents.
//
// PUT /filesystem/{path}
func (c *Client) Mkdir(ctx context.Context, path string, opts *MkdirOptions) error {
	const op = "Mkdir"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkPath("path", path); err != nil {
		return wrap(ctx, op, err)
	}
	req := &sandboxapi.FileRequest{IsDirectory: sandboxapi.NewOptBool(true)}
	if opts != nil && opts.Permissions != 0 {
		if err := checkPerm("permissions", opts.Permissions); err != nil {
			return wrap(ctx, op, err)
		}
		req.Permissions = sandboxapi.NewOptString(permString(opts.Permissions))
	}
	return c.putFilesystem(ctx, op, path, req)
}

func (c *Client) putFilesystem(ctx context.Context, op, path string, req *sandboxapi.FileRequest) error {
	wire, _ := fsPath(path)
	_, err := c.api.PutFilesystem(ctx, req, sandboxapi.PutFilesystemParams{Path: wire}, fsPathOpt)
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// RemoveOptions tunes [Client.Remove] and [Client.RemoveTree].
type RemoveOptions struct {
	// Recursive also removes everything inside a directory. Without it,
	// removing a directory that is not empty fails with 422
	// (errors.Is(err, sandboxkit.ErrUnprocessable)).
	Recursive bool
}

// Remove deletes a file or a directory.
//
// DELETE /filesystem/{path}
func (c *Client) Remove(ctx context.Context, path string, opts *RemoveOptions) error {
	const op = "Remove"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkPath("path", path); err != nil {
		return wrap(ctx, op, err)
	}
	wire, _ := fsPath(path)
	params := sandboxapi.DeleteFilesystemParams{Path: wire}
	if opts != nil && opts.Recursive {
		params.Recursive = sandboxapi.NewOptBool(true)
	}
	_, err := c.api.DeleteFilesystem(ctx, params, fsPathOpt)
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// Tree returns the listing of a directory through the tree routes. The
// real server resolves tree paths from "/" whatever they look like, so
// root must be absolute; for a relative directory use [Client.ListDirectory],
// which answers the same listing.
//
// GET /filesystem/tree/{path}
func (c *Client) Tree(ctx context.Context, root string) (*Directory, error) {
	const op = "Tree"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkAbsPath("root", root); err != nil {
		return nil, wrap(ctx, op, err)
	}
	res, err := c.api.GetTree(ctx, sandboxapi.GetTreeParams{Path: root}, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	d, err := directoryResult(&res)
	return d, wrap(ctx, op, err)
}

// WriteTree writes several text files below root (created if missing):
// files maps paths relative to root to their content. It returns the
// listing of root afterwards. root must be absolute, as for [Client.Tree].
//
// PUT /filesystem/tree/{path}
func (c *Client) WriteTree(ctx context.Context, root string, files map[string]string) (*Directory, error) {
	const op = "WriteTree"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkAbsPath("root", root); err != nil {
		return nil, wrap(ctx, op, err)
	}
	for p := range files {
		if err := checkPath("file path", p); err != nil {
			return nil, wrap(ctx, op, err)
		}
	}
	req := &sandboxapi.TreeRequest{Files: sandboxapi.NewOptTreeRequestFiles(files)}
	res, err := c.api.PutTree(ctx, req, sandboxapi.PutTreeParams{Path: root}, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	d, err := directoryResult(&res)
	return d, wrap(ctx, op, err)
}

// RemoveTree deletes a directory, with its content when opts.Recursive.
// root must be absolute, as for [Client.Tree].
//
// DELETE /filesystem/tree/{path}
func (c *Client) RemoveTree(ctx context.Context, root string, opts *RemoveOptions) error {
	const op = "RemoveTree"
	if err := c.check(ctx, op); err != nil {
		return err
	}
	if err := checkAbsPath("root", root); err != nil {
		return wrap(ctx, op, err)
	}
	params := sandboxapi.DeleteTreeParams{Path: root}
	if opts != nil && opts.Recursive {
		params.Recursive = sandboxapi.NewOptBool(true)
	}
	_, err := c.api.DeleteTree(ctx, params, fsPathOpt)
	if err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// EntryType is "file" or "directory".
type EntryType string

// Entry types.
const (
	TypeFile      EntryType = "file"
	TypeDirectory EntryType = "directory"
)

// FindOptions tunes [Client.Find]. The zero value is usable.
type FindOptions struct {
	// Type is what to find: [TypeFile] (also when empty, as the server's
	// default) or [TypeDirectory]; the server has no way to find both at
	// once. Directories include root itself, as ".".
	Type EntryType
	// Patterns keeps entries whose name matches one of these globs, such
	// as "*.go".
	Patterns []string
	// MaxResults caps the matches; 0 leaves the server's default (20),
	// a negative value asks for all of them.
	MaxResults int
	// ExcludeDirs names directories not to descend into. nil leaves the
	// server's default list (node_modules, vendor, .git, dist, build,
	// target, __pycache__, .venv, .next, coverage); an empty non-nil slice
	// excludes none (it is sent as "," since the server takes an empty
	// value for its default list).
	ExcludeDirs []string
	// IncludeHidden keeps entries whose name starts with a dot (the
	// server leaves them out by default).
	IncludeHidden bool
}

// FindMatch is an entry [Client.Find] found.
type FindMatch struct {
	// Path is the entry's path relative to the root searched.
	Path string
	// Type is file or directory.
	Type EntryType
}

// Find walks the tree below root and returns the files (or, with
// [TypeDirectory], the directories) whose names match.
//
// GET /filesystem-find/{path}
func (c *Client) Find(ctx context.Context, root string, opts *FindOptions) ([]FindMatch, error) {
	const op = "Find"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("root", root); err != nil {
		return nil, wrap(ctx, op, err)
	}
	var o FindOptions
	if opts != nil {
		o = *opts
	}
	switch o.Type {
	case "":
		o.Type = TypeFile
	case TypeFile, TypeDirectory:
	default:
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "Type", Value: string(o.Type), Reason: `must be "file" or "directory"`})
	}
	params := sandboxapi.FindFilesParams{
		Path:        root,
		Patterns:    optStrings(o.Patterns),
		ExcludeDirs: excludeDirs(o.ExcludeDirs),
		// Sent even when it is the server's default, so that every
		// server agrees on what an empty Type finds.
		Type: sandboxapi.NewOptString(string(o.Type)),
	}
	switch {
	case o.MaxResults > 0:
		params.MaxResults = sandboxapi.NewOptInt(o.MaxResults)
	case o.MaxResults < 0:
		params.MaxResults = sandboxapi.NewOptInt(0)
	}
	if o.IncludeHidden {
		params.ExcludeHidden = sandboxapi.NewOptBool(false)
	}
	r, err := c.api.FindFiles(ctx, params, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return findMatchesFrom(r), nil
}

// SearchOptions tunes [Client.Search]. The zero value is usable.
type SearchOptions struct {
	// Patterns is sent as the server's patterns parameter, which the real
	// server reads and then ignores: it does not narrow the results.
	Patterns []string
	// MaxResults caps the matches; 0 leaves the server's default (20).
	MaxResults int
	// ExcludeDirs: as for [FindOptions.ExcludeDirs].
	ExcludeDirs []string
	// IncludeHidden keeps entries whose name starts with a dot.
	IncludeHidden bool
}

// SearchMatch is a path [Client.Search] scored.
type SearchMatch struct {
	// Path is the entry's path relative to root.
	Path string
	// Score is the match quality; higher is better.
	Score int
	// Type is file or directory.
	Type EntryType
}

// Search fuzzy-matches the paths below root and returns the best first.
//
// The query is root itself, as given: the real server walks the tree
// below root and scores each entry's path relative to root against the
// text of root (fzf's algorithm: the query's characters must appear in
// order). So Search("app") finds "app.go", "lib/app_test.go" and
// "src/my-app" below the directory app, and an absolute or multi-segment
// root rarely finds anything. [SearchOptions.Patterns] does not change
// the results. [Client.Find] matches names with globs instead.
//
// GET /filesystem-search/{path}
func (c *Client) Search(ctx context.Context, root string, opts *SearchOptions) ([]SearchMatch, error) {
	const op = "Search"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("root", root); err != nil {
		return nil, wrap(ctx, op, err)
	}
	var o SearchOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxResults < 0 {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "MaxResults", Reason: "must not be negative"})
	}
	params := sandboxapi.FuzzySearchParams{
		Path:        root,
		Patterns:    optStrings(o.Patterns),
		ExcludeDirs: excludeDirs(o.ExcludeDirs),
		MaxResults:  optPositive(o.MaxResults),
	}
	if o.IncludeHidden {
		params.ExcludeHidden = sandboxapi.NewOptBool(false)
	}
	r, err := c.api.FuzzySearch(ctx, params, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return searchMatchesFrom(r), nil
}

// GrepOptions tunes [Client.Grep]. The zero value is usable.
type GrepOptions struct {
	// CaseSensitive matches case exactly (the server ignores case by
	// default).
	CaseSensitive bool
	// MaxResults caps the matches; 0 leaves the server's default (100).
	MaxResults int
	// FilePattern searches only files whose names match this glob, such
	// as "*.go".
	FilePattern string
	// ExcludeDirs: as for [FindOptions.ExcludeDirs].
	ExcludeDirs []string
}

// GrepMatch is a line [Client.Grep] found.
type GrepMatch struct {
	// Path is the file holding the match, relative to root.
	Path string
	// Line is the line number and Column the column of the match, both
	// from 1.
	Line, Column int
	// Text is the matching line; Context the lines around it, if sent.
	Text, Context string
}

// Grep searches the files below root for query and returns the matching
// lines. Hidden files are searched too.
//
// GET /filesystem-content-search/{path}
func (c *Client) Grep(ctx context.Context, root, query string, opts *GrepOptions) ([]GrepMatch, error) {
	const op = "Grep"
	if err := c.check(ctx, op); err != nil {
		return nil, err
	}
	if err := checkPath("root", root); err != nil {
		return nil, wrap(ctx, op, err)
	}
	if query == "" {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "query", Reason: "must not be empty"})
	}
	var o GrepOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxResults < 0 {
		return nil, wrap(ctx, op, &sandboxkit.ValidationError{Field: "MaxResults", Reason: "must not be negative"})
	}
	params := sandboxapi.ContentSearchParams{
		Path:        root,
		Query:       query,
		ExcludeDirs: excludeDirs(o.ExcludeDirs),
		MaxResults:  optPositive(o.MaxResults),
	}
	if o.CaseSensitive {
		params.CaseSensitive = sandboxapi.NewOptBool(true)
	}
	if o.FilePattern != "" {
		params.FilePattern = sandboxapi.NewOptString(o.FilePattern)
	}
	r, err := c.api.ContentSearch(ctx, params, fsPathOpt)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return grepMatchesFrom(r), nil
}
