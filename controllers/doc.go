// Package controllers is the folder of sqlkube's controllers. It has no
// code of its own and nothing imports it; this comment is the map.
//
// Each controller is a package of its own below this one (replicaset,
// deployment, daemonset, statefulset, job, cronjob, disruption, endpoints,
// namespace, nodelifecycle, garbagecollector, serviceaccount), with a
// New(cfg) constructor and Run(ctx, workers). Beside them:
//
//   - reconcile is the informer and work queue kit every control loop is
//     built on (Config, Queue, the informer handlers); the scheduler and
//     node/sim use it too.
//   - ownership is the owner reference logic of the controllers that own
//     other objects (Owners, Dependents, Claimer, PendingPods, ...). It
//     builds on reconcile, never the reverse.
//   - manager wires the controllers together and runs them in the elected
//     leader only.
//   - internal/controllertest holds the test fixtures the controllers share.
//
// Code shared by controllers goes into reconcile or ownership, whichever
// owns the concept, not into this package.
package controllers
