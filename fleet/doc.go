// Package fleet keeps warm pools of sandboxes shared by a fleet of worker
// processes: leases on borrowed sandboxes, leader election with fencing,
// exactly-once refills across crashes, distributed renewals and an orphan
// reaper, on a [Store] that is Redis ([RedisStore]) or process memory
// ([MemoryStore]).
package fleet
