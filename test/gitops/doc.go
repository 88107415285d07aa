// Package gitops tests the GitOps health integrations shipped in gitops/: the Argo CD Lua health
// checks (run in gopher-lua, the interpreter Argo CD embeds) and the kstatus reading of the
// operator's conditions that Flux and `kubectl wait` rely on (run against objects served by a
// real API server). It has no code of its own and depends on the API types only, never on the
// controllers: the tests write status the way the operator does and read what GitOps tools see.
package gitops
