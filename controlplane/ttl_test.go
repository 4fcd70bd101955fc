package controlplane

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sandboxkit/sandboxkit"
)

// setPath sets a member of a generic JSON object, e.g.
// setPath(v, "spec", "runtime", "ttl", "3h").
func setPath(v map[string]any, path ...any) {
	for _, k := range path[:len(path)-2] {
		v = v[k.(string)].(map[string]any)
	}
	v[path[len(path)-2].(string)] = path[len(path)-1]
}

func TestExtendTTLKeepsUnknownFields(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DEPLOYED", unknownEverywhere) // ttl 2h and a 2h max-age policy
		f.age("keep", 90*time.Minute, 0)     // 30 minutes left

		sb, err := c.ExtendTTL(t.Context(), "keep", time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Created 90 min ago, must live 60 more: 150 min.
		want := jsonOf(t, unknownEverywhere).(map[string]any)
		setPath(want, "spec", "runtime", "ttl", "150m")
		want["spec"].(map[string]any)["lifecycle"].(map[string]any)["expirationPolicies"].([]any)[0].(map[string]any)["value"] = "150m"
		if diff := cmp.Diff(want, f.stored("keep")); diff != "" {
			t.Errorf("stored after ExtendTTL (-want +got):\n%s", diff)
		}
		if sb.Spec.Runtime.TTL != "150m" {
			t.Errorf("result ttl = %q", sb.Spec.Runtime.TTL)
		}
		if got := f.count(http.MethodPut, "/v0/sandboxes/keep"); got != 1 {
			t.Errorf("%d PUTs, want 1", got)
		}
	})
}

func TestExtendTTLOnlyLengthens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		now := time.Now().UTC()
		soon := now.Add(30 * time.Minute).Format(time.RFC3339)
		far := now.Add(30 * 24 * time.Hour).Format(time.RFC3339)
		f.add("DEPLOYED", `{"metadata":{"name":"mixed"},"spec":{
			"runtime":{"image":"img","ttl":"7d","expires":"`+soon+`"},
			"lifecycle":{"expirationPolicies":[
				{"type":"ttl-idle","value":"1h","action":"delete"},
				{"type":"date","value":"`+far+`","action":"delete"},
				{"type":"date","value":"`+soon+`","action":"delete"},
				{"type":"ttl-max-age","value":"3d","action":"delete"}
			]}}}`)
		f.age("mixed", time.Hour, 30*time.Minute)

		sb, err := c.ExtendTTL(t.Context(), "mixed", 2*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		target := now.Add(2 * time.Hour).Format(time.RFC3339)
		got := []string{sb.Spec.Runtime.TTL, sb.Spec.Runtime.Expires.Format(time.RFC3339)}
		for _, p := range sb.Spec.Lifecycle.ExpirationPolicies {
			got = append(got, p.Value)
		}
		want := []string{
			"7d",   // far enough: untouched
			target, // expires pushed to now+2h
			"1h",   // idle: a rule, not a deadline; left alone
			far,    // far enough: untouched
			target, // pushed
			"3d",   // far enough: untouched
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("limits after ExtendTTL (-want +got):\n%s", diff)
		}
		// Every fixed deadline is now at least 2 h away.
		created := now.Add(-time.Hour).Truncate(time.Second)
		l := limitsOf(&sb.Spec)
		for what, dl := range map[string]time.Time{"max age": created.Add(l.maxAge), "date": l.date} {
			if dl.Before(now.Add(2 * time.Hour)) {
				t.Errorf("%s deadline %v is less than 2 h away", what, dl.Sub(now))
			}
		}

		// Nothing to do: no write.
		puts := f.count(http.MethodPut, "")
		if _, err := c.ExtendTTL(t.Context(), "mixed", time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		f.add("DEPLOYED", `{"metadata":{"name":"forever"},"spec":{"runtime":{"image":"img"}}}`)
		if sb, err := c.ExtendTTL(t.Context(), "forever", time.Hour, nil); err != nil || sb.Spec.Runtime.TTL != "" {
			t.Fatalf("forever: %+v, %v", sb, err)
		}
		if got := f.count(http.MethodPut, ""); got != puts {
			t.Errorf("%d PUTs for nothing to change", got-puts)
		}
	})
}

func TestLifetimeRetriesOnConflict(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DEPLOYED", `{"metadata":{"name":"busy","labels":{}},"spec":{"runtime":{"image":"img","ttl":"1h"}}}`)
		// Someone else adds a label between our first read and write.
		f.putConflicts = 1
		f.gate = func(r *http.Request) {
			if r.Method == http.MethodPut {
				f.mu.Lock()
				if f.putConflicts > 0 {
					setPath(f.sandboxes["busy"].obj, "metadata", "labels", "owner", "other")
				}
				f.mu.Unlock()
			}
		}
		sb, err := c.SetTTL(t.Context(), "busy", 3*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Spec.Runtime.TTL != "3h" || sb.Metadata.Labels["owner"] != "other" {
			t.Errorf("result: ttl %q, labels %v; the retry must start from a fresh read", sb.Spec.Runtime.TTL, sb.Metadata.Labels)
		}
		if gets, puts := f.count(http.MethodGet, ""), f.count(http.MethodPut, ""); gets != 2 || puts != 2 {
			t.Errorf("%d GETs and %d PUTs, want 2 and 2", gets, puts)
		}

		// Bounded: with retries off, the 409 is returned.
		f.putConflicts = 5
		_, err = c.ExtendTTL(t.Context(), "busy", 10*time.Hour, &LifetimeOptions{MaxConflictRetries: -1})
		if !errors.Is(err, sandboxkit.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		_, err = c.ExtendTTL(t.Context(), "busy", 10*time.Hour, &LifetimeOptions{MaxConflictRetries: 2})
		if !errors.Is(err, sandboxkit.ErrConflict) || f.putConflicts != 1 {
			t.Fatalf("err = %v with %d conflicts left, want ErrConflict after 3 PUTs", err, f.putConflicts)
		}
	})
}

func TestSetTTLRefusesToShorten(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DEPLOYED", `{"metadata":{"name":"s"},"spec":{"runtime":{"image":"img","ttl":"2h"},
			"lifecycle":{"expirationPolicies":[{"type":"ttl-max-age","value":"2h","action":"delete"},{"type":"ttl-idle","value":"30m"}]}}}`)

		_, err := c.SetTTL(t.Context(), "s", time.Hour, nil)
		if !errors.Is(err, ErrShortensLifetime) {
			t.Fatalf("err = %v, want ErrShortensLifetime", err)
		}
		if f.count(http.MethodPut, "") != 0 {
			t.Fatal("a refused change was written")
		}
		sb, err := c.SetTTL(t.Context(), "s", time.Hour, &LifetimeOptions{AllowShorten: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []ExpirationPolicy{{Type: PolicyTTLMaxAge, Value: "1h", Action: ActionDelete}, {Type: PolicyTTLIdle, Value: "30m"}}
		if diff := cmp.Diff(want, sb.Spec.Lifecycle.ExpirationPolicies, cmpSandbox...); sb.Spec.Runtime.TTL != "1h" || diff != "" {
			t.Errorf("ttl %q, policies (-want +got):\n%s", sb.Spec.Runtime.TTL, diff)
		}

		// Longer is fine; zero removes the maximum age.
		if sb, err = c.SetTTL(t.Context(), "s", 48*time.Hour, nil); err != nil || sb.Spec.Runtime.TTL != "2d" {
			t.Fatalf("SetTTL(48h) = %+v, %v", sb, err)
		}
		if sb, err = c.SetTTL(t.Context(), "s", 0, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]ExpirationPolicy{{Type: PolicyTTLIdle, Value: "30m"}}, sb.Spec.Lifecycle.ExpirationPolicies, cmpSandbox...); sb.Spec.Runtime.TTL != "" || diff != "" {
			t.Errorf("after SetTTL(0): ttl %q, policies (-want +got):\n%s", sb.Spec.Runtime.TTL, diff)
		}

		// Issue 12: a first maximum age on a sandbox that had none is what
		// the call asks for, not a shortening.
		f.add("DEPLOYED", `{"metadata":{"name":"forever"},"spec":{"runtime":{"image":"img"}}}`)
		if sb, err := c.SetTTL(t.Context(), "forever", 2*time.Hour, nil); err != nil || sb.Spec.Runtime.TTL != "2h" {
			t.Fatalf("SetTTL(2h) on a sandbox without a TTL = %+v, %v", sb, err)
		}
		// Unless the sandbox is older than that already: the service
		// would delete it at once.
		f.add("DEPLOYED", `{"metadata":{"name":"old"},"spec":{"runtime":{"image":"img"}}}`)
		f.age("old", 3*time.Hour, 0)
		puts := f.count(http.MethodPut, "")
		if _, err := c.SetTTL(t.Context(), "old", 2*time.Hour, nil); !errors.Is(err, ErrShortensLifetime) {
			t.Fatalf("SetTTL(2h) on a 3 h old sandbox: err = %v, want ErrShortensLifetime", err)
		}
		if f.count(http.MethodPut, "") != puts {
			t.Error("a refused change was written")
		}
		if sb, err := c.SetTTL(t.Context(), "old", 2*time.Hour, &LifetimeOptions{AllowShorten: true}); err != nil || sb.Spec.Runtime.TTL != "2h" {
			t.Fatalf("SetTTL(2h, AllowShorten) = %+v, %v", sb, err)
		}
	})
}

// Issue 12: ExtendTTL rewrote every policy to the one value that made the
// sandbox live long enough, turning a 30-minute idle rule into a
// multi-hour one. Each fixed deadline moves on its own; idle rules stay.
func TestExtendTTLLeavesIdlePoliciesAlone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		soon := time.Now().UTC().Add(10 * time.Minute).Format(time.RFC3339)
		f.add("DEPLOYED", `{"metadata":{"name":"three"},"spec":{"runtime":{"image":"img"},
			"lifecycle":{"expirationPolicies":[
				{"type":"ttl-idle","value":"30m","action":"delete"},
				{"type":"ttl-max-age","value":"1h","action":"delete"},
				{"type":"date","value":"`+soon+`","action":"delete"}
			]}}}`)
		f.age("three", 30*time.Minute, 0)
		sb, err := c.ExtendTTL(t.Context(), "three", 2*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range sb.Spec.Lifecycle.ExpirationPolicies {
			got = append(got, string(p.Type)+" "+p.Value)
		}
		want := []string{
			"ttl-idle 30m",
			"ttl-max-age 150m", // created 30 min ago, lives 2 h more
			"date " + time.Now().UTC().Add(2*time.Hour).Format(time.RFC3339),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("policies after ExtendTTL(2h) (-want +got):\n%s", diff)
		}
	})
}

func TestSetExpirationPolicies(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DEPLOYED", `{"metadata":{"name":"p"},"spec":{"lifecycle":{"x-keep":1,
			"expirationPolicies":[{"type":"ttl-max-age","value":"1d","action":"delete"}]}}}`)

		// A lower maximum age shortens the sandbox's life.
		_, err := c.SetExpirationPolicies(t.Context(), "p", []ExpirationPolicy{TTLMaxAge(12 * time.Hour)}, nil)
		if !errors.Is(err, ErrShortensLifetime) {
			t.Fatalf("err = %v, want ErrShortensLifetime", err)
		}
		// So does a date that has passed.
		_, err = c.SetExpirationPolicies(t.Context(), "p", []ExpirationPolicy{TTLMaxAge(48 * time.Hour), ExpireAt(time.Now().Add(-time.Minute))}, nil)
		if !errors.Is(err, ErrShortensLifetime) {
			t.Fatalf("a past date: err = %v, want ErrShortensLifetime", err)
		}
		if _, err := c.SetExpirationPolicies(t.Context(), "p", []ExpirationPolicy{TTLMaxAge(48 * time.Hour)}, nil); err != nil {
			t.Fatal(err)
		}
		want := jsonOf(t, `{"metadata":{"name":"p"},"spec":{"lifecycle":{"x-keep":1,
			"expirationPolicies":[{"type":"ttl-max-age","value":"2d","action":"delete"}]}}}`)
		if diff := cmp.Diff(want, any(f.stored("p"))); diff != "" {
			t.Errorf("stored (-want +got):\n%s", diff)
		}
		// None removes them all, which never shortens.
		sb, err := c.SetExpirationPolicies(t.Context(), "p", nil, nil)
		if err != nil || sb.Spec.Lifecycle == nil || len(sb.Spec.Lifecycle.ExpirationPolicies) != 0 {
			t.Fatalf("clear: %+v, %v", sb, err)
		}
		// Setting the same policies again writes nothing.
		puts := f.count(http.MethodPut, "")
		if _, err := c.SetExpirationPolicies(t.Context(), "p", []ExpirationPolicy{}, nil); err != nil {
			t.Fatal(err)
		}
		if f.count(http.MethodPut, "") != puts {
			t.Error("an unchanged policy list was written")
		}
	})
}

func TestLifetimeOfADeletedSandbox(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, f := setup(t)
		f.add("DELETING", `{"metadata":{"name":"d"},"spec":{"runtime":{"ttl":"1h"}}}`, "DELETING")
		_, err := c.ExtendTTL(t.Context(), "d", time.Hour, nil)
		if se, ok := errors.AsType[*StateError](err); !ok || se.Status != StatusDeleting {
			t.Fatalf("err = %v, want a DELETING StateError", err)
		}
		if _, err := c.ExtendTTL(t.Context(), "missing", time.Hour, nil); !errors.Is(err, sandboxkit.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}
