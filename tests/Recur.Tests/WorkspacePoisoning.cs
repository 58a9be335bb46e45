using System.Runtime.CompilerServices;
using Recur.Tensors;

namespace Recur.Tests;

/// <summary>
/// Every test runs with <see cref="Workspace.PoisonReleased"/> on: a released workspace buffer is filled with NaN,
/// so a kernel or module that reads a buffer after releasing it (the pool may already have handed it to someone
/// else) fails the gradient checks, parity and training tests with NaN instead of passing by luck.
/// </summary>
internal static class WorkspacePoisoning
{
#pragma warning disable CA2255 // a test assembly is the one place a process-wide switch belongs at load time
    [ModuleInitializer]
    internal static void Enable() => Workspace.PoisonReleased = true;
#pragma warning restore CA2255
}
