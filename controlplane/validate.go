package controlplane

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/sandboxkit/sandboxkit/internal/glue"
)

// Validation happens before any request is sent. Every error matches
// sandboxkit.ErrInvalidInput. Only what this package models is checked; the
// service has the last word on values that pass.

// Limits the service documents.
const (
	// MaxNameLength is the longest sandbox name the service accepts.
	MaxNameLength = 49
	// MaxExternalIDLength is the longest [Metadata.ExternalID].
	MaxExternalIDLength = 64
)

var (
	// newNameRE is the shape of a sandbox name: lower-case letters, digits
	// and '-', starting and ending with a letter or digit.
	newNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// externalIDRE is the shape of an external id: letters, digits, '-'.
	externalIDRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
)

// validateName checks a name that addresses an existing resource (a path
// segment): not empty, no path syntax, no control characters.
func validateName(name string) error { return glue.ValidateID("sandbox name", name) }

// validateNewName checks the name of a sandbox to create or write.
func validateNewName(name string) error {
	if err := validateName(name); err != nil {
		return err
	}
	if len(name) > MaxNameLength || !newNameRE.MatchString(name) {
		return invalid("metadata.name", name, "must be 1 to 49 lower-case letters, digits or '-', starting and ending with a letter or digit")
	}
	return nil
}

// validateExternalID checks an external id.
func validateExternalID(id string) error {
	if len(id) > MaxExternalIDLength || !externalIDRE.MatchString(id) {
		return invalid("externalId", id, "must be 1 to 64 letters, digits or '-'")
	}
	return nil
}

// validateSandbox checks what Create and Update send.
func validateSandbox(sb *Sandbox) error {
	if sb == nil {
		return invalid("sandbox", "", "must not be nil")
	}
	if err := validateNewName(sb.Metadata.Name); err != nil {
		return err
	}
	if id := sb.Metadata.ExternalID; id != "" {
		if err := validateExternalID(id); err != nil {
			return err
		}
	}
	for k := range sb.Metadata.Labels {
		if err := glue.ValidateName("label name", k); err != nil {
			return err
		}
	}
	return validateSpec(&sb.Spec)
}

// validateSpec checks a sandbox's definition.
func validateSpec(s *Spec) error {
	if rt := s.Runtime; rt != nil {
		if err := validateRuntime(rt); err != nil {
			return err
		}
	}
	if lc := s.Lifecycle; lc != nil {
		if err := validatePolicies(lc.ExpirationPolicies); err != nil {
			return err
		}
		if v := lc.TerminatedRetention; v != "" {
			if _, err := ParseDuration(v); err != nil {
				return invalid("spec.lifecycle.terminatedRetention", v, durationReason)
			}
		}
	}
	for i, v := range s.Volumes {
		field := fmt.Sprintf("spec.volumes[%d]", i)
		if err := glue.ValidateName(field+".name", v.Name); err != nil {
			return err
		}
		if err := glue.ValidatePath(field+".mountPath", v.MountPath); err != nil {
			return err
		}
		switch v.Type {
		case "", VolumePersistent:
		case VolumeEphemeral:
			if v.SizeMB <= 0 {
				return invalid(field+".sizeMb", strconv.Itoa(v.SizeMB), "must be positive for an ephemeral volume")
			}
		default:
			return invalid(field+".type", string(v.Type), "must be persistent or ephemeral")
		}
		if v.SizeMB < 0 {
			return invalid(field+".sizeMb", strconv.Itoa(v.SizeMB), "must not be negative")
		}
	}
	return nil
}

// durationReason is the reason of every rejected duration.
const durationReason = `must be a positive whole number and a unit s, m, h, d or w, such as "30m", "24h" or "7d"`

func validateRuntime(rt *Runtime) error {
	if rt.Memory < 0 {
		return invalid("spec.runtime.memory", strconv.Itoa(rt.Memory), "must not be negative")
	}
	if rt.TerminationGracePeriodSeconds < 0 {
		return invalid("spec.runtime.terminationGracePeriodSeconds", strconv.Itoa(rt.TerminationGracePeriodSeconds), "must not be negative")
	}
	if rt.TTL != "" {
		if _, err := ParseDuration(rt.TTL); err != nil {
			return invalid("spec.runtime.ttl", rt.TTL, durationReason)
		}
	}
	if err := validatePorts("spec.runtime.ports", rt.Ports); err != nil {
		return err
	}
	for i, e := range rt.Envs {
		if err := glue.ValidateName(fmt.Sprintf("spec.runtime.envs[%d].name", i), e.Name); err != nil {
			return err
		}
	}
	for k, v := range rt.ExtraArgs {
		if v != "enabled" && v != "disabled" {
			return invalid("spec.runtime.extraArgs."+k, v, "must be enabled or disabled")
		}
	}
	return nil
}

// validatePorts checks ports: a target in range and a documented protocol
// (or none).
func validatePorts(field string, ports []Port) error {
	for i, p := range ports {
		if p.Target < 1 || p.Target > 65535 {
			return invalid(fmt.Sprintf("%s[%d].target", field, i), strconv.Itoa(p.Target), "must be between 1 and 65535")
		}
		if p.Protocol != "" && !p.Protocol.Known() {
			return invalid(fmt.Sprintf("%s[%d].protocol", field, i), string(p.Protocol), "must be HTTP, TCP, UDP or TLS")
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
				return invalid(field+".value", p.Value, durationReason)
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
