using Recur.Tensors;

namespace Recur.Tests.Tensors;

/// <summary>
/// <see cref="Engine.UseThreads"/> sets the thread count for a scope and puts back the value it replaced when the
/// scope ends, once, even when the scope ends by an exception; nested scopes unwind in order.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class EngineUseThreadsTests
{
    [Fact]
    public void AScopePutsBackTheThreadCountItReplaced()
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = 3;
            var outer = Engine.UseThreads(1);
            Assert.Equal(1, Engine.Threads);
            using (Engine.UseThreads(5)) Assert.Equal(5, Engine.Threads);
            Assert.Equal(1, Engine.Threads);
            outer.Dispose();
            Assert.Equal(3, Engine.Threads);
            Engine.Threads = 4;
            outer.Dispose(); // a second Dispose does nothing
            Assert.Equal(4, Engine.Threads);
            static void FailInsideAScope()
            {
                using (Engine.UseThreads(2)) throw new InvalidOperationException("inside the scope");
            }
            Assert.Throws<InvalidOperationException>(FailInsideAScope);
            Assert.Equal(4, Engine.Threads);
            Assert.Throws<ArgumentOutOfRangeException>(() => Engine.UseThreads(0));
            Assert.Equal(4, Engine.Threads);
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}
