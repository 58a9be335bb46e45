using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Recur.Inference;

namespace Recur.Serving;

/// <summary>
/// Groups requests that arrive together for one model into one call of <see cref="Predictor.PredictMany"/>: a worker
/// takes the first waiting request, then keeps taking requests until <c>maxBatch</c> are in hand or <c>wait</c> has
/// passed since the first, and runs them. Each request keeps its own result or error. Requests prepared on an older
/// model (before a reload) run on that model.
/// </summary>
internal sealed class MicroBatcher : IAsyncDisposable
{
    private sealed record Item(PreparedRequest Request, TaskCompletionSource<JsonArray> Done);

    private readonly Channel<Item> _queue = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly long _waitTicks;
    private readonly int _maxBatch;
    private readonly Task[] _workers;
    private long _batches, _requests;

    public MicroBatcher(TimeSpan wait, int maxBatch, int workers)
    {
        _waitTicks = (long)(wait.TotalSeconds * Stopwatch.Frequency);
        _maxBatch = Math.Max(1, maxBatch);
        _workers = Enumerable.Range(0, Math.Max(1, workers)).Select(_ => Task.Run(WorkAsync)).ToArray();
    }

    /// <summary>Batches run so far and requests in them (their ratio is the mean batch size).</summary>
    public (long Batches, long Requests) Counts => (Interlocked.Read(ref _batches), Interlocked.Read(ref _requests));

    /// <exception cref="ServerClosingException">The server is shutting down and takes no new work.</exception>
    public Task<JsonArray> PredictAsync(PreparedRequest request)
    {
        var item = new Item(request, new TaskCompletionSource<JsonArray>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(item)) throw new ServerClosingException();
        return item.Done.Task;
    }

    private async Task WorkAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Item>(_maxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.TryRead(out var first)) continue;
            batch.Clear();
            batch.Add(first);
            long deadline = Stopwatch.GetTimestamp() + _waitTicks;
            while (batch.Count < _maxBatch)
            {
                if (reader.TryRead(out var next))
                {
                    batch.Add(next);
                    continue;
                }
                long left = deadline - Stopwatch.GetTimestamp();
                if (left <= 0) break;
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                try
                {
                    if (!await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            Run(batch);
        }
    }

    private void Run(List<Item> batch)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _requests, batch.Count);
        foreach (var group in batch.GroupBy(i => i.Request.Predictor))
        {
            var items = group.ToList();
            IReadOnlyList<PredictionOutcome> outcomes;
            try
            {
                outcomes = group.Key.PredictMany(items.Select(i => i.Request).ToList());
            }
            catch (Exception e)
            {
                foreach (var item in items) item.Done.TrySetException(e);
                continue;
            }
            for (int i = 0; i < items.Count; i++)
            {
                if (outcomes[i].Error is Exception e) items[i].Done.TrySetException(e);
                else items[i].Done.TrySetResult(outcomes[i].Predictions!);
            }
        }
    }

    /// <summary>Takes no new requests, finishes the queued ones, and stops the workers.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }
}

/// <summary>A request arrived while the server was shutting down.</summary>
internal sealed class ServerClosingException() : Exception("the server is shutting down");
