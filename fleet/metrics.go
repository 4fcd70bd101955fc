package fleet

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MeterName is the name of the OpenTelemetry meter of package fleet.
const MeterName = "github.com/sandboxkit/sandboxkit/fleet"

// metrics are a pool's OpenTelemetry instruments. Every record carries
// the attribute pool=NAME. The gauges describe the whole fleet and are
// reported only by the current leader, so they do not add up across
// nodes:
//
//	sandboxkit.fleet.idle              gauge      idle sandboxes
//	sandboxkit.fleet.leased            gauge      leased sandboxes
//	sandboxkit.fleet.creating          gauge      pending create intents (refill and direct)
//	sandboxkit.fleet.acquire.duration  histogram  Acquire latency (s), attribute outcome
//	sandboxkit.fleet.refill.errors     counter    failed refill creates
//	sandboxkit.fleet.renewals          counter    sandbox renewals
//	sandboxkit.fleet.leases.reclaimed  counter    lapsed leases reclaimed
//	sandboxkit.fleet.orphans.deleted   counter    orphans the reaper deleted
type metrics struct {
	attrs     metric.MeasurementOption
	pool      attribute.KeyValue
	meter     metric.Meter
	acquire   metric.Float64Histogram
	refillErr metric.Int64Counter
	renewals  metric.Int64Counter
	reclaims  metric.Int64Counter
	orphans   metric.Int64Counter
	idle      metric.Int64ObservableGauge
	leased    metric.Int64ObservableGauge
	creating  metric.Int64ObservableGauge
	reg       metric.Registration
}

func newMetrics(mp metric.MeterProvider, pool string) (*metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := &metrics{meter: mp.Meter(MeterName), pool: attribute.String("pool", pool)}
	m.attrs = metric.WithAttributes(m.pool)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	m.acquire, err = m.meter.Float64Histogram("sandboxkit.fleet.acquire.duration", metric.WithUnit("s"),
		metric.WithDescription("Time Acquire took, by outcome."))
	add(err)
	m.refillErr, err = m.meter.Int64Counter("sandboxkit.fleet.refill.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Refill creates that failed."))
	add(err)
	m.renewals, err = m.meter.Int64Counter("sandboxkit.fleet.renewals", metric.WithUnit("{renewal}"),
		metric.WithDescription("Sandbox renewals by this node."))
	add(err)
	m.reclaims, err = m.meter.Int64Counter("sandboxkit.fleet.leases.reclaimed", metric.WithUnit("{lease}"),
		metric.WithDescription("Lapsed leases reclaimed."))
	add(err)
	m.orphans, err = m.meter.Int64Counter("sandboxkit.fleet.orphans.deleted", metric.WithUnit("{sandbox}"),
		metric.WithDescription("Orphaned sandboxes the reaper deleted."))
	add(err)
	m.idle, err = m.meter.Int64ObservableGauge("sandboxkit.fleet.idle", metric.WithUnit("{sandbox}"),
		metric.WithDescription("Idle sandboxes in the pool (reported by the leader)."))
	add(err)
	m.leased, err = m.meter.Int64ObservableGauge("sandboxkit.fleet.leased", metric.WithUnit("{sandbox}"),
		metric.WithDescription("Leased sandboxes (reported by the leader)."))
	add(err)
	m.creating, err = m.meter.Int64ObservableGauge("sandboxkit.fleet.creating", metric.WithUnit("{sandbox}"),
		metric.WithDescription("Sandboxes being created (reported by the leader)."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// observe reports the gauges from stats (nil when this node does not
// lead) at every collection.
func (m *metrics) observe(stats func() *Stats) error {
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := stats()
		if st == nil {
			return nil
		}
		o.ObserveInt64(m.idle, int64(st.Idle), m.attrs)
		o.ObserveInt64(m.leased, int64(st.Leased), m.attrs)
		o.ObserveInt64(m.creating, int64(st.Pending+st.Direct), m.attrs)
		return nil
	}, m.idle, m.leased, m.creating)
	m.reg = reg
	return err
}

func (m *metrics) close() {
	if m.reg != nil {
		_ = m.reg.Unregister()
	}
}

func (m *metrics) acquired(ctx context.Context, d time.Duration, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrEmpty):
		outcome = "empty"
	case errors.Is(err, ErrAtCapacity):
		outcome = "capacity"
	case errors.Is(err, ErrUnhealthy):
		outcome = "unhealthy"
	case errors.Is(err, ErrDestroyed):
		outcome = "destroyed"
	default:
		outcome = "error"
	}
	m.acquire.Record(context.WithoutCancel(ctx), d.Seconds(), metric.WithAttributes(m.pool, attribute.String("outcome", outcome)))
}

func (m *metrics) refillError(ctx context.Context) { m.refillErr.Add(ctx, 1, m.attrs) }
func (m *metrics) renewed(ctx context.Context) {
	m.renewals.Add(context.WithoutCancel(ctx), 1, m.attrs)
}
func (m *metrics) reclaimed(ctx context.Context, n int) {
	m.reclaims.Add(ctx, int64(n), m.attrs)
}
func (m *metrics) orphan(ctx context.Context) { m.orphans.Add(context.WithoutCancel(ctx), 1, m.attrs) }

// gauges returns the stats the leader saw last, or nil.
func (p *Pool) gauges() *Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leading || p.stats == nil {
		return nil
	}
	st := *p.stats
	return &st
}
