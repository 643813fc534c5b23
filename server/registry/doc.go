// Package registry describes the resources the API server serves: for each,
// its group, version, kind and scope, and its strategy (defaulting,
// validation, status and spec rules, field selectors, table columns), one
// small file per API group. It holds no state and does no I/O; the server
// package applies the generic object rules and calls these hooks.
package registry
