package controlplane_test

import (
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/mock/gomock"

	"github.com/sandboxkit/sandboxkit"
	"github.com/sandboxkit/sandboxkit/controlplane"
	"github.com/sandboxkit/sandboxkit/controlplane/mockcontrolplane"
)

// The waiters take any Getter, such as a gomock mock.
func TestDeployedWaiterWithGomockGetter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctrl := gomock.NewController(t)
		getter := mockcontrolplane.NewMockGetter(ctrl)
		at := func(s controlplane.Status) *controlplane.Sandbox {
			return &controlplane.Sandbox{Metadata: controlplane.Metadata{Name: "sbx"}, Status: s}
		}
		gomock.InOrder(
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at(controlplane.StatusBuilding), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(nil, &sandboxkit.APIError{StatusCode: http.StatusBadGateway}),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at(controlplane.StatusDeploying), nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(at(controlplane.StatusDeployed), nil),
		)
		start := time.Now()
		sb, err := controlplane.NewDeployedWaiter(getter, &controlplane.WaitOptions{MinDelay: time.Second, MaxDelay: 2 * time.Second}).
			WaitForOutput(t.Context(), "sbx", time.Minute)
		if err != nil || sb.Status != controlplane.StatusDeployed {
			t.Fatalf("got %+v, %v", sb, err)
		}
		if took := time.Since(start); took < 4*time.Second || took > 7*time.Second {
			t.Errorf("took %v for three pauses of 1 s, 2 s, 2 s (with jitter)", took)
		}
	})
}

func TestDeletedWaiterWithGomockGetter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctrl := gomock.NewController(t)
		getter := mockcontrolplane.NewMockGetter(ctrl)
		gomock.InOrder(
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).
				Return(&controlplane.Sandbox{Status: controlplane.StatusDeleting}, nil),
			getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).
				Return(nil, &sandboxkit.APIError{StatusCode: http.StatusNotFound}),
		)
		err := controlplane.NewDeletedWaiter(getter, nil).Wait(t.Context(), "sbx", 0)
		if err != nil {
			t.Fatal(err)
		}

		// Errors that are not transient end the wait.
		getter.EXPECT().Get(gomock.Any(), "sbx", gomock.Nil()).Return(nil, &sandboxkit.APIError{StatusCode: http.StatusForbidden})
		err = controlplane.NewDeletedWaiter(getter, nil).Wait(t.Context(), "sbx", 0)
		if !errors.Is(err, sandboxkit.ErrForbidden) {
			t.Fatalf("err = %v, want ErrForbidden", err)
		}
	})
}
