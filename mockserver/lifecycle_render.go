package mockserver

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/gen/lifecyclesrv"
)

// pyOut writes the lifecycle server's answers as its framework renders
// them: fields in the server's model order, fields that are None left
// out, times as pydantic writes UTC times, strings as json.dumps with
// ensure_ascii=False, no spaces.
type pyOut struct {
	b     []byte
	comma []bool // per open object or list: whether a comma goes before the next member
}

func (o *pyOut) sep() {
	if n := len(o.comma); n > 0 {
		if o.comma[n-1] {
			o.b = append(o.b, ',')
		}
		o.comma[n-1] = true
	}
}

func (o *pyOut) open()      { o.b = append(o.b, '{'); o.comma = append(o.comma, false) }
func (o *pyOut) close()     { o.b = append(o.b, '}'); o.comma = o.comma[:len(o.comma)-1] }
func (o *pyOut) openList()  { o.b = append(o.b, '['); o.comma = append(o.comma, false) }
func (o *pyOut) closeList() { o.b = append(o.b, ']'); o.comma = o.comma[:len(o.comma)-1] }

// elem starts a list item.
func (o *pyOut) elem() { o.sep() }

// key starts an object member.
func (o *pyOut) key(k string) {
	o.sep()
	o.b = appendPyString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *pyOut) str(s string) { o.b = appendPyString(o.b, s) }
func (o *pyOut) int(n int)    { o.b = strconv.AppendInt(o.b, int64(n), 10) }
func (o *pyOut) bool(v bool)  { o.b = strconv.AppendBool(o.b, v) }

// time writes t as pydantic does for a UTC time: seconds, a six-digit
// fraction unless it is zero, and Z.
func (o *pyOut) time(t time.Time) {
	t = t.UTC()
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		o.b = append(o.b, '.')
		for d := 100000; d > 0; d /= 10 {
			o.b = append(o.b, byte('0'+us/d%10))
		}
	}
	o.b = append(o.b, 'Z', '"')
}

// strings writes a string map with its keys sorted.
func (o *pyOut) strings(m map[string]string) {
	o.open()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		o.key(k)
		o.str(m[k])
	}
	o.close()
}

func (o *pyOut) list(xs []string) {
	o.openList()
	for _, x := range xs {
		o.elem()
		o.str(x)
	}
	o.closeList()
}

func (o *pyOut) optStr(k string, v lifecyclesrv.OptString) {
	if s, ok := v.Get(); ok {
		o.key(k)
		o.str(s)
	}
}

func (o *pyOut) optTime(k string, v lifecyclesrv.OptDateTime) {
	if t, ok := v.Get(); ok {
		o.key(k)
		o.time(t)
	}
}

func (o *pyOut) platform(v lifecyclesrv.OptPlatformSpec) {
	if p, ok := v.Get(); ok {
		o.key("platform")
		o.open()
		o.key("os")
		o.str(p.Os)
		o.key("arch")
		o.str(p.Arch)
		o.close()
	}
}

func (o *pyOut) status(state string, reason, message lifecyclesrv.OptString, at lifecyclesrv.OptDateTime) {
	o.key("status")
	o.open()
	o.key("state")
	o.str(state)
	o.optStr("reason", reason)
	o.optStr("message", message)
	o.optTime("lastTransitionAt", at)
	o.close()
}

func (o *pyOut) sandbox(v lifecyclesrv.Sandbox) {
	o.open()
	o.key("id")
	o.str(v.ID)
	if img, ok := v.Image.Get(); ok {
		o.key("image")
		o.open()
		o.key("uri")
		o.str(img.URI)
		o.close()
	}
	o.optStr("snapshotId", v.SnapshotID)
	o.platform(v.Platform)
	o.status(string(v.Status.State), v.Status.Reason, v.Status.Message, v.Status.LastTransitionAt)
	if md, ok := v.Metadata.Get(); ok {
		o.key("metadata")
		o.strings(md)
	}
	o.key("entrypoint")
	o.list(v.Entrypoint)
	o.optTime("expiresAt", v.ExpiresAt)
	o.key("createdAt")
	o.time(v.CreatedAt)
	o.close()
}

func (o *pyOut) created(v lifecyclesrv.CreateSandboxResponse) {
	o.open()
	o.key("id")
	o.str(v.ID)
	o.status(string(v.Status.State), v.Status.Reason, v.Status.Message, v.Status.LastTransitionAt)
	if md, ok := v.Metadata.Get(); ok {
		o.key("metadata")
		o.strings(md)
	}
	o.platform(v.Platform)
	o.optTime("expiresAt", v.ExpiresAt)
	o.key("createdAt")
	o.time(v.CreatedAt)
	o.key("entrypoint")
	o.list(v.Entrypoint)
	o.close()
}

func (o *pyOut) snapshot(v lifecyclesrv.Snapshot) {
	o.open()
	o.key("id")
	o.str(v.ID)
	o.key("sandboxId")
	o.str(v.SandboxID)
	o.optStr("name", v.Name)
	o.status(string(v.Status.State), v.Status.Reason, v.Status.Message, v.Status.LastTransitionAt)
	o.key("createdAt")
	o.time(v.CreatedAt)
	o.close()
}

func (o *pyOut) pagination(p lifecyclesrv.PaginationInfo) {
	o.open()
	o.key("page")
	o.int(p.Page)
	o.key("pageSize")
	o.int(p.PageSize)
	o.key("totalItems")
	o.int(p.TotalItems)
	o.key("totalPages")
	o.int(p.TotalPages)
	o.key("hasNextPage")
	o.bool(p.HasNextPage)
	o.close()
}

// write answers status with the document written so far.
func (o *pyOut) write(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(o.b)))
	w.WriteHeader(status)
	_, _ = w.Write(o.b)
}
