package controlplane

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sandboxkit/sandboxkit/client"
)

// Validation happens before any request is sent. Every error matches
// client.ErrInvalidInput. Only what this package models is checked; the
// service has the last word on values that pass.

func validateName(name string) error { return client.ValidateID("sandbox name", name) }

// validateSandbox checks what Create and Update send.
func validateSandbox(sb *Sandbox) error {
	if sb == nil {
		return invalid("sandbox", "", "must not be nil")
	}
	if err := validateName(sb.Metadata.Name); err != nil {
		return err
	}
	for k := range sb.Metadata.Labels {
		if err := client.ValidateName("label name", k); err != nil {
			return err
		}
	}
	return validateSpec(&sb.Spec)
}

// validateSpec checks a sandbox's definition.
func validateSpec(s *Spec) error {
	if rt := s.Runtime; rt != nil {
		if rt.Memory < 0 {
			return invalid("spec.runtime.memory", strconv.Itoa(rt.Memory), "must not be negative")
		}
		if rt.CPU < 0 {
			return invalid("spec.runtime.cpu", strconv.Itoa(rt.CPU), "must not be negative")
		}
		if rt.TTL != "" {
			if _, err := ParseDuration(rt.TTL); err != nil {
				return invalid("spec.runtime.ttl", rt.TTL, `must be a positive duration such as "30m", "24h", "7d" or "2w"`)
			}
		}
		for i, p := range rt.Ports {
			if p.Target < 1 || p.Target > 65535 {
				return invalid(fmt.Sprintf("spec.runtime.ports[%d].target", i), strconv.Itoa(p.Target), "must be between 1 and 65535")
			}
		}
		for i, e := range rt.Envs {
			if err := client.ValidateName(fmt.Sprintf("spec.runtime.envs[%d].name", i), e.Name); err != nil {
				return err
			}
		}
	}
	if lc := s.Lifecycle; lc != nil {
		if err := validatePolicies(lc.ExpirationPolicies); err != nil {
			return err
		}
	}
	for i, v := range s.Volumes {
		if err := client.ValidateName(fmt.Sprintf("spec.volumes[%d].name", i), v.Name); err != nil {
			return err
		}
		if err := client.ValidatePath(fmt.Sprintf("spec.volumes[%d].mountPath", i), v.MountPath); err != nil {
			return err
		}
	}
	return nil
}

// validatePolicies checks expiration policies: a documented type, a value
// of the type's form and the documented action (or none).
func validatePolicies(ps []ExpirationPolicy) error {
	for i, p := range ps {
		field := fmt.Sprintf("spec.lifecycle.expirationPolicies[%d]", i)
		switch p.Type {
		case PolicyTTLIdle, PolicyTTLMaxAge:
			if _, err := ParseDuration(p.Value); err != nil {
				return invalid(field+".value", p.Value, `must be a positive duration such as "30m", "24h", "7d" or "2w"`)
			}
		case PolicyDate:
			if _, err := time.Parse(time.RFC3339Nano, p.Value); err != nil {
				return invalid(field+".value", p.Value, `must be an RFC 3339 time such as "2025-12-31T23:59:59Z"`)
			}
		default:
			return invalid(field+".type", string(p.Type), "must be ttl-idle, ttl-max-age or date")
		}
		if p.Action != "" && p.Action != ActionDelete {
			return invalid(field+".action", string(p.Action), "must be delete")
		}
	}
	return nil
}
