package mockserver

import (
	"slices"
)

// Operation names, as [Entry.Operation], [Filter.Operation] and
// [Fault.Operation] use them: the operationId of each operation in
// sandboxkit's OpenAPI documents, capitalised. The lifecycle API and the
// control plane share CreateSandbox, GetSandbox, ListSandboxes and
// DeleteSandbox; a [Fault] or [Filter] tells them apart by API.
const (
	// Lifecycle API (and, for the shared names, the control plane).
	OpCreateSandbox          = "CreateSandbox"
	OpListSandboxes          = "ListSandboxes"
	OpGetSandbox             = "GetSandbox"
	OpDeleteSandbox          = "DeleteSandbox"
	OpPatchSandboxMetadata   = "PatchSandboxMetadata"
	OpPauseSandbox           = "PauseSandbox"
	OpResumeSandbox          = "ResumeSandbox"
	OpRenewSandboxExpiration = "RenewSandboxExpiration"
	OpGetSandboxEndpoint     = "GetSandboxEndpoint"
	OpCreateSnapshot         = "CreateSnapshot"
	OpListSnapshots          = "ListSnapshots"
	OpGetSnapshot            = "GetSnapshot"
	OpDeleteSnapshot         = "DeleteSnapshot"

	// Control plane only.
	OpUpdateSandbox                 = "UpdateSandbox"
	OpListSandboxHubDefinitions     = "ListSandboxHubDefinitions"
	OpGetSandboxByExternalID        = "GetSandboxByExternalID"
	OpForkSandbox                   = "ForkSandbox"
	OpListSandboxSnapshots          = "ListSandboxSnapshots"
	OpCreateSandboxSnapshot         = "CreateSandboxSnapshot"
	OpDeleteSandboxSnapshot         = "DeleteSandboxSnapshot"
	OpListSandboxPreviews           = "ListSandboxPreviews"
	OpCreateSandboxPreview          = "CreateSandboxPreview"
	OpGetSandboxPreview             = "GetSandboxPreview"
	OpUpdateSandboxPreview          = "UpdateSandboxPreview"
	OpDeleteSandboxPreview          = "DeleteSandboxPreview"
	OpListSandboxPreviewTokens      = "ListSandboxPreviewTokens"
	OpCreateSandboxPreviewToken     = "CreateSandboxPreviewToken"
	OpDeleteSandboxPreviewToken     = "DeleteSandboxPreviewToken"
	OpListSandboxSchedules          = "ListSandboxSchedules"
	OpCreateSandboxSchedule         = "CreateSandboxSchedule"
	OpGetSandboxSchedule            = "GetSandboxSchedule"
	OpUpdateSandboxSchedule         = "UpdateSandboxSchedule"
	OpDeleteSandboxSchedule         = "DeleteSandboxSchedule"
	OpListSandboxScheduleExecutions = "ListSandboxScheduleExecutions"

	// Sandbox API.
	OpGetHealth               = "GetHealth"
	OpUpgrade                 = "Upgrade"
	OpGetFilesystem           = "GetFilesystem"
	OpPutFilesystem           = "PutFilesystem"
	OpDeleteFilesystem        = "DeleteFilesystem"
	OpGetTree                 = "GetTree"
	OpPutTree                 = "PutTree"
	OpDeleteTree              = "DeleteTree"
	OpFindFiles               = "FindFiles"
	OpFuzzySearch             = "FuzzySearch"
	OpContentSearch           = "ContentSearch"
	OpWatchFilesystem         = "WatchFilesystem"
	OpInitiateMultipartUpload = "InitiateMultipartUpload"
	OpUploadMultipartPart     = "UploadMultipartPart"
	OpCompleteMultipartUpload = "CompleteMultipartUpload"
	OpAbortMultipartUpload    = "AbortMultipartUpload"
	OpListMultipartUploads    = "ListMultipartUploads"
	OpListMultipartParts      = "ListMultipartParts"
	OpExecProcess             = "ExecProcess"
	OpListProcesses           = "ListProcesses"
	OpGetProcess              = "GetProcess"
	OpStopProcess             = "StopProcess"
	OpKillProcess             = "KillProcess"
	OpGetProcessLogs          = "GetProcessLogs"
	OpStreamProcessLogs       = "StreamProcessLogs"
	OpGetProcessPorts         = "GetProcessPorts"
	OpStartPortMonitor        = "StartPortMonitor"
	OpStopPortMonitor         = "StopPortMonitor"
	OpUpdateTunnelConfig      = "UpdateTunnelConfig"
	OpDisconnectTunnel        = "DisconnectTunnel"
	OpListDrives              = "ListDrives"
	OpMountDrive              = "MountDrive"
	OpUnmountDrive            = "UnmountDrive"
	OpReloadEnvironment       = "ReloadEnvironment"
	OpFastApply               = "FastApply"
	OpRerankFiles             = "RerankFiles"
)

// apiOperations lists every operation name of each API (sorted). A test
// checks them against the OpenAPI documents.
var apiOperations = map[API][]string{
	APILifecycle: sortedOps(
		OpCreateSandbox, OpListSandboxes, OpGetSandbox, OpDeleteSandbox, OpPatchSandboxMetadata,
		OpPauseSandbox, OpResumeSandbox, OpRenewSandboxExpiration, OpGetSandboxEndpoint,
		OpCreateSnapshot, OpListSnapshots, OpGetSnapshot, OpDeleteSnapshot,
	),
	APIControlPlane: sortedOps(
		OpCreateSandbox, OpListSandboxes, OpGetSandbox, OpDeleteSandbox, OpUpdateSandbox,
		OpListSandboxHubDefinitions, OpGetSandboxByExternalID, OpForkSandbox,
		OpListSandboxSnapshots, OpCreateSandboxSnapshot, OpDeleteSandboxSnapshot,
		OpListSandboxPreviews, OpCreateSandboxPreview, OpGetSandboxPreview, OpUpdateSandboxPreview, OpDeleteSandboxPreview,
		OpListSandboxPreviewTokens, OpCreateSandboxPreviewToken, OpDeleteSandboxPreviewToken,
		OpListSandboxSchedules, OpCreateSandboxSchedule, OpGetSandboxSchedule, OpUpdateSandboxSchedule, OpDeleteSandboxSchedule,
		OpListSandboxScheduleExecutions,
	),
	APISandbox: sortedOps(
		OpGetHealth, OpUpgrade,
		OpGetFilesystem, OpPutFilesystem, OpDeleteFilesystem, OpGetTree, OpPutTree, OpDeleteTree,
		OpFindFiles, OpFuzzySearch, OpContentSearch, OpWatchFilesystem,
		OpInitiateMultipartUpload, OpUploadMultipartPart, OpCompleteMultipartUpload,
		OpAbortMultipartUpload, OpListMultipartUploads, OpListMultipartParts,
		OpExecProcess, OpListProcesses, OpGetProcess, OpStopProcess, OpKillProcess,
		OpGetProcessLogs, OpStreamProcessLogs, OpGetProcessPorts, OpStartPortMonitor, OpStopPortMonitor,
		OpUpdateTunnelConfig, OpDisconnectTunnel, OpListDrives, OpMountDrive, OpUnmountDrive,
		OpReloadEnvironment, OpFastApply, OpRerankFiles,
	),
}

func sortedOps(ops ...string) []string {
	slices.Sort(ops)
	return ops
}

// Operations returns the operation names of api, sorted; of all three
// APIs (without repeats) when api is "".
func Operations(api API) []string {
	if api != APIUnknown {
		return slices.Clone(apiOperations[api])
	}
	var all []string
	for _, ops := range apiOperations {
		all = append(all, ops...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// checkOperation reports an operation name that api does not have, as an
// *UnknownOperationError.
func checkOperation(api API, op string) error {
	valid := Operations(api)
	if op == "" || slices.Contains(valid, op) {
		return nil
	}
	return &UnknownOperationError{API: api, Operation: op, Valid: valid}
}
