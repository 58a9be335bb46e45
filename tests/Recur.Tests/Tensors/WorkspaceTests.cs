using Recur.Autograd;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Tests.Tensors;

/// <summary>
/// The workspace pool: released arrays come back for the same type and length, cleared; the meter counts bytes in
/// use, not bytes pooled; the pool is bounded; a double release is refused. Runs alone, as it trims and resizes
/// the process-wide pool.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public class WorkspaceTests
{
    // Lengths no other test uses, so the buckets are this test's own.
    private const int Odd = 1_234_567, Other = 1_234_568;

    [Fact]
    public void AReleasedArrayComesBackClearedForTheSameTypeAndLength()
    {
        var first = Workspace.Allocate<float>(Odd);
        first.AsSpan().Fill(3f);
        Workspace.Release(first);
        Assert.True(float.IsNaN(first[0]), "tests poison released buffers");
        Assert.NotSame(first, Workspace.Allocate<float>(Other));
        Assert.NotSame(first, Workspace.Allocate<double>(Odd));
        var again = Workspace.Allocate<float>(Odd);
        Assert.Same(first, again);
        Assert.All(again, v => Assert.Equal(0f, v));
        Workspace.Release(again);
        var uninitialized = Workspace.AllocateUninitialized<float>(Odd);
        Assert.Same(first, uninitialized);
        Assert.True(float.IsNaN(uninitialized[Odd - 1]), "poisoned: a caller that skips an element reads NaN");
        Workspace.Release(uninitialized);
    }

    [Fact]
    public void TheMeterCountsBytesInUseNotBytesPooled()
    {
        var meter = new WorkspaceMeter();
        using (Workspace.Measure(meter))
        {
            var a = Workspace.Allocate<float>(Odd);
            Workspace.Release(a);
            var b = Workspace.Allocate<float>(Odd); // the same array again
            Assert.Equal(4L * Odd, meter.Current);
            var c = Workspace.AllocateUninitialized<float>(Odd); // a second one
            Assert.Equal(8L * Odd, meter.Current);
            Workspace.Release(b);
            Workspace.Release(c);
        }
        Assert.Equal(0, meter.Current);
        Assert.Equal(8L * Odd, meter.Peak);
    }

    [Fact]
    public void ReleasingTwiceIsRefused()
    {
        var buffer = Workspace.Allocate<float>(Other);
        Workspace.Release(buffer);
        var error = Assert.Throws<InvalidOperationException>(() => Workspace.Release(buffer));
        Assert.Contains("released twice", error.Message);
        Assert.Same(buffer, Workspace.Allocate<float>(Other));
    }

    [Fact]
    public void ThePoolKeepsAtMostItsCapacityDroppingTheLeastRecentlyUsedLength()
    {
        long saved = Workspace.PoolCapacityBytes;
        try
        {
            Workspace.Trim();
            Workspace.PoolCapacityBytes = 4L * (Odd + Other); // room for one array of each length
            var older = Workspace.Allocate<float>(Odd);
            var newer = Workspace.Allocate<float>(Other);
            Workspace.Release(older);
            Workspace.Release(newer);
            Assert.Equal(4L * (Odd + Other), Workspace.PooledBytes);
            var third = Workspace.Allocate<float>(Odd - 1);
            Workspace.Release(third); // over capacity: the length used least recently (Odd) goes
            Assert.Equal(4L * (Other + Odd - 1), Workspace.PooledBytes);
            Assert.NotSame(older, Workspace.Allocate<float>(Odd));
            Assert.Same(newer, Workspace.Allocate<float>(Other));
            Workspace.PoolCapacityBytes = 0; // pooling off: releases are left to the collector
            Assert.Equal(0, Workspace.PooledBytes);
            Workspace.Release(newer);
            Assert.Equal(0, Workspace.PooledBytes);
        }
        finally
        {
            Workspace.PoolCapacityBytes = saved;
        }
    }

    /// <summary>
    /// A training step's caches, layout swaps and intermediate gradients go back to the pool when the backward pass
    /// is done, so the next identical step allocates (almost) nothing new, and gives the same bits as a step on fresh
    /// memory.
    /// </summary>
    [Fact]
    public void ATrainingStepReusesThePreviousStepsBuffersAndGivesTheSameBits()
    {
        var lstm = new Lstm("rnn", 3, 16, 2, random: new RecurRandom(2));
        var head = new Dense("head", 16, 1, random: new RecurRandom(3));
        var random = new RecurRandom(4);
        var x = new Tensor(Enumerable.Range(0, 8 * 20 * 3).Select(_ => (float)random.Uniform(-1, 1)).ToArray(), 8, 20, 3);
        var y = new Tensor(Enumerable.Range(0, 8).Select(_ => (float)random.Uniform(-1, 1)).ToArray(), 8, 1);
        long resultBytes = 0;
        float[][] Step()
        {
            foreach (var p in lstm.Parameters.Concat(head.Parameters)) p.ZeroGrad();
            var tape = new Tape();
            var result = lstm.Forward(tape, new Variable(x));
            var last = TimeSteps.Last(tape, result.Output);
            var prediction = head.Forward(tape, last);
            tape.Backward(Recur.Losses.Loss.MeanSquaredError(tape, prediction, y));
            resultBytes = 4L * (result.Output.Value.Length + result.HiddenState.Value.Length + result.CellState!.Value.Length +
                last.Value.Length + prediction.Value.Length);
            return lstm.Parameters.Concat(head.Parameters).Select(p => p.Grad.Data.ToArray()).ToArray();
        }

        var first = Step();
        var meter = new WorkspaceMeter();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        float[][] second;
        using (Workspace.Measure(meter)) second = Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        // In use after the step: only the values the caller holds (outputs, final states, head results).
        Assert.Equal(resultBytes, meter.Current);
        Assert.True(meter.Peak > 10 * resultBytes);
        Assert.True(allocated < meter.Peak / 2, $"a repeated step allocated {allocated} B against a workspace peak of {meter.Peak} B");
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }

    /// <summary>Disposing the tape gives back the results' values too: a disposed step holds nothing afterwards.</summary>
    [Fact]
    public void DisposingTheTapeReleasesTheResultsValues()
    {
        var lstm = new Lstm("rnn", 3, 16, 1, random: new RecurRandom(2), options: new RecurrentStackOptions { Bidirectional = true });
        var head = new Dense("head", 32, 1, random: new RecurRandom(3));
        var random = new RecurRandom(4);
        var x = new Variable(new Tensor(Enumerable.Range(0, 8 * 20 * 3).Select(_ => (float)random.Uniform(-1, 1)).ToArray(), 8, 20, 3));
        var y = new Tensor(Enumerable.Range(0, 8).Select(_ => (float)random.Uniform(-1, 1)).ToArray(), 8, 1);
        float loss = 0;
        void Step(bool train)
        {
            using var tape = new Tape(isRecording: train);
            var result = lstm.Forward(tape, x);
            var prediction = head.Forward(tape, TimeSteps.BidirectionalLast(tape, result.Output, null));
            var lossVariable = Recur.Losses.Loss.MeanSquaredError(tape, prediction, y);
            if (train) tape.Backward(lossVariable);
            loss = lossVariable.Value.Data[0];
        }

        foreach (bool train in new[] { true, false })
        {
            Step(train);
            var meter = new WorkspaceMeter();
            using (Workspace.Measure(meter)) Step(train);
            Assert.Equal(0, meter.Current);
            Assert.True(meter.Peak > 0);
            Assert.True(float.IsFinite(loss));
        }
        var disposed = new Tape();
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => disposed.ReleaseOnDispose(new Tensor(1)));
    }
}
