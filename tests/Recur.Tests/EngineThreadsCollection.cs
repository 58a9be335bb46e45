using Xunit;

namespace Recur.Tests;

/// <summary>
/// Tests that change the process-wide <see cref="Recur.Tensors.Engine.Threads"/> join this collection, which
/// runs alone (never beside another collection) so no other test sees the setting mid-change; so do tests that need
/// the processors to themselves (the bench's cross-core round trip).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineThreadsCollection
{
    public const string Name = "Engine threads";
}
