-- Argo CD health check for every kind of connectivity.workersvpc.dev (connectivity-operator):
-- ConnectivityService, CloudflareTunnel, CloudflareAccount and ClusterCloudflareAccount.
-- It serves the whole group (resource_customizations/connectivity.workersvpc.dev/_ in Argo CD, or a
-- connectivity.workersvpc.dev/* entry in argocd-cm); the little that differs by kind comes from
-- obj.kind.
--
-- The operator's conditions follow kstatus: Ready is True only when the remote state matches the
-- spec of status.observedGeneration; Reconciling is True while work is in progress or waiting on
-- something that resolves by itself; Stalled is True when a person has to act. A Ready=False
-- with a terminal reason is Degraded even without Stalled. A CloudflareTunnel whose connector has
-- no available pod, or that Cloudflare does not call healthy, is Reconciling (Progressing), as is
-- a service waiting for its tunnel's id.
--
-- Argo CD runs argocd-cm health checks without Lua's string library (unless useOpenLibs is set
-- for them), so this script uses base functions only.
hs = {}

local terminalReasons = {
  NameConflict = true,
  OwnershipUnknown = true,
  TunnelNotFound = true,
  InvalidSpec = true,
  CredentialsInvalid = true,
  PermissionDenied = true,
}

-- What the operator does first with a new object of each kind, for the message shown until it has.
local firstSteps = {
  ConnectivityService = "reconcile the service",
  CloudflareTunnel = "create the tunnel",
  CloudflareAccount = "verify the credentials",
  ClusterCloudflareAccount = "verify the credentials",
}

local function findCondition(conditions, conditionType)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if type(condition) == "table" and condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function isTrue(condition)
  return condition ~= nil and condition.status == "True"
end

local function messageOf(condition, fallback)
  if condition ~= nil and type(condition.message) == "string" and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local status = obj.status
local conditions = nil
if type(status) == "table" then
  conditions = status.conditions
end
local ready = findCondition(conditions, "Ready")
local reconciling = findCondition(conditions, "Reconciling")
local stalled = findCondition(conditions, "Stalled")

if ready == nil and reconciling == nil and stalled == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to " .. (firstSteps[obj.kind] or "reconcile the object")
  return hs
end

local generation = nil
if type(obj.metadata) == "table" and type(obj.metadata.generation) == "number" then
  generation = obj.metadata.generation
end
local observed = nil
if type(status.observedGeneration) == "number" then
  observed = status.observedGeneration
end

-- Conditions written for an older generation describe a spec that no longer exists: even a
-- Stalled one is stale until the operator has looked at the new spec.
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  if isTrue(reconciling) then
    hs.message = messageOf(ready, messageOf(reconciling, "Reconciling"))
  else
    hs.message = "Waiting for the operator to observe generation " .. generation ..
      " (last observed: " .. observed .. ")"
  end
  return hs
end

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = messageOf(stalled, messageOf(ready, "Stalled"))
  return hs
end

if ready ~= nil and ready.status == "False" and ready.reason ~= nil and terminalReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = messageOf(ready, ready.reason)
  return hs
end

if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = messageOf(ready, messageOf(reconciling, "Reconciling"))
  return hs
end

if isTrue(ready) then
  if generation == nil or observed == generation then
    hs.status = "Healthy"
    hs.message = messageOf(ready, "Ready")
    return hs
  end
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status.observedGeneration"
  return hs
end

hs.status = "Progressing"
hs.message = messageOf(ready, "Waiting for the Ready condition")
return hs
