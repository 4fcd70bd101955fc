// gen.go holds every code generation step of the module; run
// `go generate ./...` from the module root after editing a spec under
// internal/spec. Generated files (oas_*_gen.go, mock_*.go) are committed.

package sandboxkit

// OpenAPI clients (used by the façades) and servers (used by mockserver) are
// generated into separate packages with separate configs.
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-client.yaml -package lifecycleapi -target internal/gen/lifecycleapi internal/spec/lifecycle.yaml
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-server.yaml -package lifecyclesrv -target internal/gen/lifecyclesrv internal/spec/lifecycle.yaml
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-client.yaml -package sandboxapi -target internal/gen/sandboxapi internal/spec/sandbox.yaml
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-server.yaml -package sandboxsrv -target internal/gen/sandboxsrv internal/spec/sandbox.yaml
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-client.yaml -package controlplaneapi -target internal/gen/controlplaneapi internal/spec/controlplane.yaml
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-server.yaml -package controlplanesrv -target internal/gen/controlplanesrv internal/spec/controlplane.yaml

// The mock server's own control API (mockserver's /_sandboxmock routes and
// its remote controller).
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-client.yaml -package mockcontrolapi -target internal/gen/mockcontrolapi internal/spec/mockcontrol.yaml
//go:generate go tool ogen -loglevel error -clean -config internal/spec/ogen-server.yaml -package mockcontrolsrv -target internal/gen/mockcontrolsrv internal/spec/mockcontrol.yaml

// Typed gomock mocks of the façade interfaces, for downstream tests.
//go:generate go tool mockgen -typed -destination lifecycle/mocklifecycle/mock_lifecycle.go -package mocklifecycle github.com/sandboxkit/sandboxkit/lifecycle API,Getter,Lister,Creator,Deleter,Pauser,Resumer,ExpiryRenewer,RenewerAPI,EndpointGetter,MetadataPatcher,Snapshotter,SnapshotGetter
//go:generate go tool mockgen -typed -destination controlplane/mockcontrolplane/mock_controlplane.go -package mockcontrolplane github.com/sandboxkit/sandboxkit/controlplane Creator,Getter,ExternalIDGetter,Lister,Updater,Deleter,LifetimeManager,Ensurer,Forker,Snapshotter,PreviewManager,ScheduleManager,HubLister,API
//go:generate go tool mockgen -typed -destination sandbox/mocksandbox/mock_sandbox.go -package mocksandbox github.com/sandboxkit/sandboxkit/sandbox API,HealthChecker,Upgrader,ProcessGetter,Executor,ProcessManager,FileReader,FileWriter,MultipartUploader,FileSearcher,FileWatcher,NetworkManager,DriveManager,EnvironmentReloader,CodeAssistant,TerminalOpener
