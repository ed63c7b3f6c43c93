// Added by iac's scripts/install-pulumi-engine to the v3.68.0 Python language host it builds
// (the newest host source the Go module proxy serves): newer engines no longer send
// RunPluginRequest.program (deprecated) but the `info` field (5, a ProgramInfo), which this
// host's protobuf types predate. Without this, a policy pack would be started as
// `python ''` in the project folder, running the project's program instead of the pack.

package main

import (
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	runPluginInfoField    = 5 // RunPluginRequest.info
	programInfoProgramDir = 2 // ProgramInfo.program_directory
	programInfoEntryPoint = 3 // ProgramInfo.entry_point
)

// pluginProgram returns the program to run and its working directory: the deprecated
// fields when set, else those of the `info` field read from the request's unknown fields.
func pluginProgram(req *pulumirpc.RunPluginRequest) (string, string) {
	if req.Program != "" {
		return req.Program, req.Pwd
	}
	info := field(req.ProtoReflect().GetUnknown(), runPluginInfoField)
	dir := string(field(info, programInfoProgramDir))
	if dir == "" {
		return req.Program, req.Pwd
	}
	entry := string(field(info, programInfoEntryPoint))
	if entry == "" || entry == "." {
		return dir, dir
	}
	return dir + "/" + entry, dir
}

// field returns the bytes of the last length-delimited field `number` in a protobuf
// message's wire encoding, or nil.
func field(b []byte, number protowire.Number) []byte {
	var found []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return found
		}
		b = b[n:]
		if num == number && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return found
			}
			found, b = v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return found
		}
		b = b[m:]
	}
	return found
}
