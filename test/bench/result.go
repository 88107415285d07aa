package main

// result holds the figures of one scenario; the JSON carries them as they are.
type result struct {
	// Scenario names the scenario; Accounts is how many Cloudflare accounts (each with its own
	// token) it used, and Objects how many ConnectivityServices it applied in all.
	Scenario string `json:"scenario"`
	Accounts int    `json:"accounts"`
	Objects  int    `json:"objects"`
	// RequestsPer5m and Burst are the manager's budget flags; ResyncInterval its --resync-interval.
	RequestsPer5m  int    `json:"requestsPer5m"`
	Burst          int    `json:"burst"`
	ResyncInterval string `json:"resyncInterval"`
	// SecondsToReady runs from the first create until every object is Ready at its generation;
	// SecondsToReadyByAccount until all objects of each account are, in account order.
	SecondsToReady          float64   `json:"secondsToReady"`
	SecondsToReadyByAccount []float64 `json:"secondsToReadyByAccount"`
	// SetupCalls are the calls of the scenario's tokens before the first create (account checks).
	SetupCalls        int            `json:"setupCalls"`
	SetupCallsByRoute map[string]int `json:"setupCallsByRoute"`
	// SubmitSeconds is how long the benchmark took to create the objects (part of SecondsToReady).
	SubmitSeconds float64 `json:"submitSeconds"`
	// CreateCalls counts every call of the scenario's tokens while creating, by route; CallsPerSecond
	// spreads them over the seconds since the first create, to show where a budget went unused.
	CreateCalls        int            `json:"createPathCalls"`
	CreateCallsByRoute map[string]int `json:"createPathCallsByRoute"`
	CallsPerSecond     []int          `json:"createPathCallsPerSecond"`
	CallsPerObject     float64        `json:"createPathCallsPerObject"`
	Posts              int            `json:"createPathPosts"`
	PostsPerObject     float64        `json:"createPathPostsPerObject"`
	// CreatesRefused counts the create calls answered 400 (a name that exists already: a second
	// create for one object) over the whole scenario.
	CreatesRefused int `json:"createsRefused"`
	// K8sWrites counts the mutating requests the API server served while creating, less the
	// benchmark's own creates (see apiwrites.go), by "VERB resource[/subresource] status code".
	K8sWrites          int            `json:"k8sWrites"`
	K8sWritesByRequest map[string]int `json:"k8sWritesByRequest"`
	K8sWritesPerObject float64        `json:"k8sWritesPerObject"`
	// The Steady figures cover two resync intervals after all objects were Ready: the calls by
	// route and one by one, the calls per account per interval, each account's list calls, and the
	// GET, PUT and POST calls among them.
	SteadyWindowSeconds   float64        `json:"steadyWindowSeconds"`
	SteadyCalls           int            `json:"steadyCalls"`
	SteadyCallsByRoute    map[string]int `json:"steadyCallsByRoute"`
	SteadyRequests        []string       `json:"steadyRequests"`
	SteadyCallsPerResync  float64        `json:"steadyCallsPerAccountPerInterval"`
	SteadyListsPerAccount []int          `json:"steadyListsPerAccount"`
	SteadyGetPutPost      int            `json:"steadyGetPutPost"`
	// The Remote figures compare the fake's services with the objects at the end: services in the
	// scenario's accounts, services no object records (duplicates), and objects whose recorded
	// service is missing or shared with another object.
	RemoteServices        int `json:"remoteServices"`
	Duplicates            int `json:"duplicateServices"`
	ObjectsWithoutService int `json:"objectsWithoutOwnService"`
	// RateLimited counts 429 answers to the scenario's tokens over the whole scenario.
	RateLimited int `json:"rateLimited429s"`
	// BudgetUsedPercent is creating-phase calls / (60 calls/s × creating seconds); budget scenarios only.
	BudgetUsedPercent *float64 `json:"budgetUsedPercent,omitempty"`
	// PeakRSSMiB is the highest of the scenario's managers, CPUSeconds their sum, each over its
	// whole life in the scenario.
	PeakRSSMiB float64 `json:"peakRSSMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// LoadAverage is the host's 1-minute load average when the scenario started and ended: other
	// work on the machine slows the control plane and the manager.
	LoadAverage [2]float64 `json:"loadAverage"`
	// ManagerLogs are the paths of the managers' logs, in start order.
	ManagerLogs []string `json:"managerLogs"`
	// Disruption holds the figures of the scenario's disruption, if it has one.
	Disruption *disruptionResult `json:"disruption,omitempty"`
}

// disruptionResult holds what a disruption measured. Its times start at the disruption: the new
// manager's start (restart), the kill (leader-kill), the block (token-429).
type disruptionResult struct {
	// Kind is restart, leader-kill or token-429; Description says what happened.
	Kind        string `json:"kind"`
	Description string `json:"description"`
	// SecondsToFirstCall is until the first Cloudflare call of the manager that carries on:
	// the new manager (restart), the surviving replica (leader-kill); for token-429, until the
	// blocked token's first call that succeeded.
	SecondsToFirstCall float64 `json:"secondsToFirstCall"`
	// SecondsToRecovered is until every object was reconciled once by the new manager (restart),
	// until every object was Ready (leader-kill), or from the first create until every object of
	// the other, unblocked accounts was Ready (token-429).
	SecondsToRecovered float64 `json:"secondsToRecovered"`
	// The Window figures count the calls in the minute from the disruption: all the scenario's
	// tokens' (restart, leader-kill) or the blocked token's (token-429). ListPasses counts the full
	// list passes, ProbeLists the one-service lists that go with a verification, and OtherCalls
	// the GET, PUT, POST and DELETE calls.
	WindowSeconds      float64        `json:"windowSeconds"`
	WindowCallsByRoute map[string]int `json:"windowCallsByRoute"`
	ListPasses         int            `json:"windowListPasses"`
	ProbeLists         int            `json:"windowProbeLists"`
	VerifyCalls        int            `json:"windowVerifyCalls"`
	OtherCalls         int            `json:"windowGetPutPostDelete"`
	Window429s         int            `json:"window429s"`
	// ObjectsReconciled counts the objects the new manager logged a finished reconcile of (restart).
	ObjectsReconciled int `json:"objectsReconciled,omitempty"`
	// CreatesBeforeKill and PostsBeforeKill are the objects created, and the POSTs the leader
	// made, before the kill; SecondsToTakeover is until the survivor started its workers (leader-kill).
	CreatesBeforeKill int     `json:"createsBeforeKill,omitempty"`
	PostsBeforeKill   int     `json:"postsBeforeKill,omitempty"`
	SecondsToTakeover float64 `json:"secondsToTakeover,omitempty"`
	// BlockedAccountSecondsToReady is from the first create until the blocked account's objects
	// were all Ready (token-429).
	BlockedAccountSecondsToReady float64 `json:"blockedAccountSecondsToReady,omitempty"`
}
