using Recur.Layers;
using Recur.Layers.Recurrent;

namespace Recur.Tests.Layers;

/// <summary>
/// Gradient checkpointing over a part-major batch split (18 sequences in two parts of 9, the processors set to 2): each
/// segment's forward and backward pass lay their buffers out part-major, and the checkpointed pass still gives the
/// stored pass's outputs and final states bit for bit and its gradients to float rounding, plain and bidirectional.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class PartMajorCheckpointTests : IDisposable
{
    private const int Batch = 18, Steps = 13, Hidden = 5;
    private readonly int _processors = StepLayout.Processors;

    public PartMajorCheckpointTests() => StepLayout.Processors = 2;

    public void Dispose() => StepLayout.Processors = _processors;

    [Theory]
    [InlineData("lstm", 4, false)]
    [InlineData("gru", 5, false)]
    [InlineData("lstm", 3, true)]
    public void CheckpointedPartMajorPassEqualsTheStoredPass(string cell, int k, bool bidirectional)
    {
        var layout = RecurrentLayerKernel<float, LstmCell>.Split(Steps, Batch, Hidden, layerNorm: false);
        Assert.Equal((2, true), (layout.Parts, layout.PartMajor));
        var regularization = new RecurrentRegularization(InputDropout: 0.2, RecurrentDropout: 0.2, Zoneout: 0.3);
        var stack = new RecurrentStackOptions { Bidirectional = bidirectional };
        int[] lengths = Enumerable.Range(0, Batch).Select(b => b % 4 == 0 ? Steps : (b * 5) % (Steps + 1)).ToArray();
        var stored = CheckpointTimeTests.RunOnce(cell, null, false, regularization, lengths, stack: stack, batch: Batch);
        var checkpointed = CheckpointTimeTests.RunOnce(cell, k, false, regularization, lengths, stack: stack, batch: Batch);
        Assert.Equal(stored.Output, checkpointed.Output);
        Assert.Equal(stored.Hidden, checkpointed.Hidden);
        if (stored.Cell is not null) Assert.Equal(stored.Cell, checkpointed.Cell!);
        CheckpointTimeTests.Close(stored.DInput, checkpointed.DInput, 1e-5, "dx");
        CheckpointTimeTests.Close(stored.DH0, checkpointed.DH0, 1e-5, "dh0");
        if (stored.DC0 is not null) CheckpointTimeTests.Close(stored.DC0, checkpointed.DC0!, 1e-5, "dc0");
        for (int p = 0; p < stored.Grads.Length; p++) CheckpointTimeTests.Close(stored.Grads[p], checkpointed.Grads[p], 1e-5, $"grad {p}");
    }
}
