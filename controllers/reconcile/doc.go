// Package reconcile is the informer and work queue kit that every control
// loop of sqlkube is built on: the controllers below controllers/, the
// scheduler and the simulated nodes (node/sim).
//
// A control loop reads from informer caches, writes through the API, and
// has a SyncFunc that takes a key ("namespace/name", or "name" for a
// cluster-scoped object) and is safe to run any number of times. The few
// types it needs:
//
//   - Config is what a loop is built from: the API client, the informer
//     factory shared by every loop of a process (the caller starts it once
//     all loops registered their informers), a logger (Log) and event
//     recorders sharing one broadcaster (Recorder, Shutdown).
//   - Queue is a rate-limited queue of keys with a SyncFunc: NewQueue, then
//     Run(ctx, workers, synced...) waits for the caches and runs the
//     workers until ctx is done. A sync that fails is retried with
//     back-off, unless its error is Permanent (ErrPermanent), which is
//     logged and dropped so that the key does not hot-loop.
//   - Informer handlers only turn objects into keys: Queue.EventHandler
//     enqueues the object itself, OwnerEventHandler hands both versions of
//     a changed object to a function that resolves its owner, and both
//     skip resyncs (Unchanged). Key and ObjectOf turn an object, or a
//     deletion tombstone, into what a handler needs.
//
// What it does not hold: any loop's reconcile logic, or the owner
// reference logic of the controllers that own other objects (package
// ownership, which builds on this one).
//
// Concurrency: Config and Queue are safe for concurrent use. A key is
// never synced by two workers of a Queue at once; different keys are
// synced in parallel, so a SyncFunc must be safe for that.
package reconcile
