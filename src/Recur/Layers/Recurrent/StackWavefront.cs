using System.Numerics;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// The forward pass of a stack of layers as a wavefront over (layer, chunk of steps): layer l runs chunk k once it has
/// run chunk k − 1 and projected chunk k's input, which needs the layer below to have run chunk k. The engine's threads
/// take whatever task is ready, lowest chunk first, then lowest layer, a projection before a run; once all have
/// started, layer l's chunks run on worker l mod workers only. While one thread runs layer 0's next chunk, another
/// runs layer 1's chunk before it, and both share the input projections, so every product covers the whole batch.
/// </summary>
/// <remarks>
/// <para>Why: the batch split gives each of two threads half the batch, so each reads all of W_hh every step for half
/// the rows. On this project's 2-core host, in the state where a cross-core hand-off is slow, two threads each running
/// a whole layer on the whole batch did twice the work of one layer in 1.04–1.24 times its time, where the batch split
/// ran config b's two layers at 1.35–1.54 times one thread's speed. Config b's inference: 33.5–35.8 ms against
/// 35.8–41.9 split by batch; its training forward pass 34.8–35.2 against 36.9–38.1 ms. Moving a layer between the
/// cores every other chunk (no affinity) cost 2–3 ms of that.</para>
/// <para>A task's arithmetic does not depend on which thread runs it or when (the products give every element the
/// same bits for any split of their rows), so outputs and caches are bit-identical to the batch split's at any thread
/// count. A worker left alone (the team busy, its partner not started) still finishes every task: until every worker
/// has started any of them runs any task, and afterwards a task is only waited for while another worker runs it.</para>
/// </remarks>
internal static class StackWavefront<T, TCell>
    where T : struct, IFloatingPointIeee754<T>
    where TCell : IRecurrentCell
{
    /// <summary>Fewest rows (steps × batch) a chunk's input projection covers, so it stays an efficient product.</summary>
    internal const int MinChunkRows = 256;

    /// <summary>
    /// Steps per chunk where there are enough: config b's inference took 31.6–31.8 ms in chunks of 8 steps, 32.6–32.9 in
    /// chunks of 4 and 32.2–32.5 in chunks of 16 (B = 128 and B = 32 likewise best or level at 8).
    /// </summary>
    internal const int PreferredChunkSteps = 8;

    /// <summary>Fewest chunks per layer: fewer and filling and draining the pipeline costs more than it saves.</summary>
    internal const int MinChunks = 8;

    /// <summary>
    /// Steps per chunk for a forward pass over <paramref name="layers"/> layers, or 0 when the stack runs layer by
    /// layer, each split by batch: float32 only (packed products), at least two layers and no more threads than layers
    /// (each layer's chunks run one after another; more threads serve the batch split better), layers small enough to
    /// split by batch (a larger W_hh splits its product's columns over all threads), no layer norm (its statistics run
    /// over all steps first), and at least <see cref="MinChunks"/> chunks. A pass kept for backward also needs every
    /// layer's batch split time-major, the layout its backward pass reads (a small model's is part-major).
    /// </summary>
    internal static int ChunkSteps(IReadOnlyList<RecurrentLayerWeights<T>> layers, int steps, int batch, bool keepForBackward)
    {
        if (Forced is false || typeof(T) != typeof(float) || layers.Count < 2 || steps == 0 || batch == 0 || layers.Any(w => w.LayerNorm is not null)) return 0;
        if (keepForBackward && layers.Any(w => RecurrentLayerKernel<T, TCell>.Split(steps, batch, w.HiddenSize, layerNorm: false).PartMajor)) return 0;
        int fewest = (MinChunkRows + batch - 1) / batch;
        int chunk = ForcedChunkSteps ?? Math.Max(PreferredChunkSteps, fewest);
        if (Forced is true) return Math.Min(chunk, steps);
        int threads = Engine.AvailableThreads;
        if (threads < 2 || threads > layers.Count || layers.Any(w => !RecurrentLayerKernel<T, TCell>.SplitsByBatch(w.HiddenSize))) return 0;
        // Shorter chunks, down to MinChunkRows rows, where the preferred ones would be too few.
        if (steps / chunk < MinChunks && ForcedChunkSteps is null) chunk = Math.Max(fewest, steps / MinChunks);
        return steps / chunk >= MinChunks ? chunk : 0;
    }

    /// <summary>Tests and timings force the wavefront on (wherever it can run: float32, two layers or more, no layer norm) or off; null: by the rule above.</summary>
    internal static bool? Forced;

    /// <summary>Tests and timings set the steps per chunk; null: by the rule above (<see cref="PreferredChunkSteps"/>, at least <see cref="MinChunkRows"/> rows).</summary>
    internal static int? ForcedChunkSteps;

    /// <summary>Runs every chunk of every pass (layer l's input is layer l − 1's output), on the engine's threads.</summary>
    internal static void Run(IReadOnlyList<RecurrentLayerKernel<T, TCell>.ForwardPass> passes)
    {
        int L = passes.Count, K = passes[0].Chunks, R = RecurrentLayerKernel<T, TCell>.ForwardPass.RingChunks;
        int slices = Engine.AvailableThreads;
        var ran = new int[L]; // chunks run per layer (in order)
        var running = new int[L]; // chunks claimed for running per layer: ran[l] + 1 while one runs
        var projectionClaimed = new int[L * K]; // slices of (l, k) claimed
        var projected = new int[L * K]; // slices of (l, k) done
        int failed = 0;

        int started = 0; // workers running: until all are, any worker runs any layer's chunks

        bool TryWork(int worker)
        {
            // Once every worker runs, layer l's chunks run on worker l mod workers only: a layer that moves between
            // cores takes its state and W_hh along.
            bool allStarted = Volatile.Read(ref started) == slices;
            int bestChunk = int.MaxValue, bestLayer = -1;
            bool bestIsRun = false;
            for (int l = 0; l < L; l++)
            {
                int r = Volatile.Read(ref ran[l]);
                if (r == K) continue;
                int inputRan = l == 0 ? K : Volatile.Read(ref ran[l - 1]);
                // The first chunk with an unclaimed projection slice whose input is written and whose ring slot is free.
                for (int q = r; q < Math.Min(Math.Min(K, r + R), inputRan); q++)
                    if (Volatile.Read(ref projectionClaimed[l * K + q]) < slices)
                    {
                        if (q < bestChunk) (bestChunk, bestLayer, bestIsRun) = (q, l, false);
                        break;
                    }
                if (r < bestChunk && (!allStarted || l % slices == worker) && Volatile.Read(ref running[l]) == r && Volatile.Read(ref projected[l * K + r]) == slices)
                    (bestChunk, bestLayer, bestIsRun) = (r, l, true);
            }
            if (bestLayer < 0) return false;
            var pass = passes[bestLayer];
            if (bestIsRun)
            {
                if (Interlocked.CompareExchange(ref running[bestLayer], bestChunk + 1, bestChunk) != bestChunk) return true;
                pass.RunChunk(bestChunk);
                Volatile.Write(ref ran[bestLayer], bestChunk + 1);
                return true;
            }
            int at = bestLayer * K + bestChunk;
            int slice = Interlocked.Increment(ref projectionClaimed[at]) - 1;
            if (slice >= slices) return true;
            int rows = pass.ChunkRows(bestChunk);
            pass.ProjectChunk(bestChunk, StepLayout.PartStart(slice, slices, rows), StepLayout.PartStart(slice + 1, slices, rows));
            Interlocked.Increment(ref projected[at]);
            return true;
        }

        Engine.RunParts(slices, worker =>
        {
            Interlocked.Increment(ref started);
            var spinner = new SpinWait();
            try
            {
                while (Volatile.Read(ref ran[L - 1]) < K && Volatile.Read(ref failed) == 0)
                    if (TryWork(worker)) spinner.Reset();
                    else spinner.SpinOnce(sleep1Threshold: -1);
            }
            catch
            {
                Volatile.Write(ref failed, 1); // the other workers stop waiting for tasks this one will not finish
                throw;
            }
        });
    }
}
