using Xunit;

namespace Recur.Tests;

/// <summary>
/// Tests that change the process-wide <see cref="Recur.Tensors.Engine.Threads"/> join this collection, which
/// runs alone (never beside another collection) so no other test sees the setting mid-change.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineThreadsCollection
{
    public const string Name = "Engine threads";
}
