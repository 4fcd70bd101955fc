package fleet_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sandboxkit/sandboxkit/fleet"
	"github.com/sandboxkit/sandboxkit/mockserver"
)

func TestMetricsAndLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		defer mp.Shutdown(context.Background())
		if _, err := e.srv.InjectFault(mockserver.Fault{API: mockserver.APILifecycle, Operation: "CreateSandbox", Status: 400, Times: 1}); err != nil {
			t.Fatal(err)
		}
		p := e.newPool("metrics", "node-a", fleet.Options{Size: 2, MeterProvider: mp}, nil)
		waitFor(t, "warm pool", time.Minute, func() bool { return e.stats("metrics").Idle == 2 })
		for range 2 {
			if _, err := p.Acquire(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Acquire(t.Context(), nil); !errors.Is(err, fleet.ErrEmpty) {
			t.Fatalf("third acquire: %v", err)
		}
		waitFor(t, "refilled", time.Minute, func() bool { return e.stats("metrics").Idle == 2 })
		time.Sleep(6 * time.Second) // one more leader tick records the stats
		synctest.Wait()

		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		pool := attribute.String("pool", "metrics")
		got := map[string]int64{}
		outcomes := map[string]uint64{}
		for _, sm := range rm.ScopeMetrics {
			if sm.Scope.Name != fleet.MeterName {
				continue
			}
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Gauge[int64]:
					for _, dp := range d.DataPoints {
						if v, _ := dp.Attributes.Value(pool.Key); v == pool.Value {
							got[m.Name] = dp.Value
						}
					}
				case metricdata.Sum[int64]:
					for _, dp := range d.DataPoints {
						got[m.Name] += dp.Value
					}
				case metricdata.Histogram[float64]:
					for _, dp := range d.DataPoints {
						o, _ := dp.Attributes.Value("outcome")
						outcomes[o.AsString()] += dp.Count
					}
				}
			}
		}
		want := map[string]int64{
			"sandboxkit.fleet.idle": 2, "sandboxkit.fleet.leased": 2, "sandboxkit.fleet.creating": 0,
			"sandboxkit.fleet.refill.errors": 1,
		}
		for name, v := range want {
			if g, ok := got[name]; !ok || g != v {
				t.Errorf("%s = %d (reported %v), want %d", name, g, ok, v)
			}
		}
		if outcomes["ok"] != 2 || outcomes["empty"] != 1 {
			t.Errorf("acquire outcomes %v, want 2 ok and 1 empty", outcomes)
		}

		for _, msg := range []string{"fleet leader elected", "fleet refill creating", "fleet refill created", "fleet published", "fleet refill failed"} {
			if e.logs.count(msg) == 0 {
				t.Errorf("no %q record", msg)
			}
		}
		for _, r := range e.logs.find("fleet published") {
			if r.attrs["pool"] != "metrics" || r.attrs["node"] != "node-a" || r.attrs["sandbox"] == "" || r.attrs["slot"] == "" {
				t.Errorf("published record without pool, node, sandbox and slot: %+v", r.attrs)
			}
		}
	})
}
