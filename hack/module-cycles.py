# Module dependency graph of a crate from its `use`/path references; prints strongly connected groups.
# STRICT=1 also counts edges between a module and its ancestors (e.g. authclient::act -> authclient (mod.rs)).
import os,re,sys
root=sys.argv[1]; strict=os.environ.get('STRICT')=='1'
mods={}
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f); parts=os.path.relpath(p,root)[:-3].split('/')
        if parts[-1] in('mod','lib'): parts=parts[:-1]
        mods['::'.join(parts) or 'crate']=open(p).read()
names=set(mods)
def strip_tests(src):
    i=src.find('#[cfg(test)]\nmod tests')
    return src if i<0 else src[:i]
def expand(prefix,body):
    # expand a use tree body "a::{b, c::{d}}, e" into full paths
    out=[];depth=0;cur=''
    items=[]
    for ch in body:
        if ch=='{':depth+=1
        if ch=='}':depth-=1
        if ch==',' and depth==0: items.append(cur);cur=''
        else: cur+=ch
    items.append(cur)
    for it in items:
        it=re.sub(r'\s+as\s+\w+','',it.strip())
        if not it: continue
        m=re.match(r'((?:\w+::)*)\{(.*)\}$',it,re.S)
        if m: out+=expand(prefix+m.group(1),m.group(2))
        else: out.append(prefix+it)
    return out
def resolve(path):
    segs=[s for s in path.split('::') if s and s!='self']
    for i in range(len(segs),0,-1):
        n='::'.join(segs[:i])
        if n in names: return n
    return None
edges={}
for m,src in mods.items():
    src=strip_tests(src); src=re.sub(r'//[^\n]*','',src)
    here=m.split('::') if m!='crate' else []
    parent='::'.join(here[:-1])
    paths=[]
    for u in re.finditer(r'\buse\s+([^;]+);',src,re.S):
        paths+=expand('',u.group(1))
    paths+=re.findall(r'(?<![\w:])((?:crate|super)(?:::\w+)+)',src)
    for u in re.finditer(r'(?<![\w:])(\w+)::',src):
        cand=(m+'::'+u.group(1)) if m!='crate' else u.group(1)
        if cand in names: paths.append('self::'+u.group(1))
    deps=set()
    for p in paths:
        p=p.strip()
        if p.startswith('crate::'): r=resolve(p[7:]) or 'crate'
        elif p.startswith('super::'):
            base=parent; rest=p[7:]
            while rest.startswith('super::'):
                base='::'.join(base.split('::')[:-1]); rest=rest[7:]
            r=resolve((base+'::'+rest) if base else rest) or (base or 'crate')
        elif p.startswith('self::'): r=resolve(m+'::'+p[6:])
        else: continue
        if r: deps.add(r)
    deps.discard(m)
    def related(a,b):
        return a=='crate' or b=='crate' or a.startswith(b+'::') or b.startswith(a+'::')
    edges[m]={d for d in deps if strict or not related(m,d)}
idx={};low={};st=[];on=set();sccs=[];c=[0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges.get(v,()):
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        s=[]
        while True:
            w=st.pop();on.discard(w);s.append(w)
            if w==v:break
        sccs.append(s)
for v in sorted(edges):
    if v not in idx: sc(v)
bad=[s for s in sccs if len(s)>1]
for s in bad:
    print('CYCLE:',sorted(s))
    for a in sorted(s): print('   ',a,'->',sorted(d for d in edges[a] if d in s))
print(len(bad),'cycles (strongly connected groups)', 'strict' if strict else '(siblings; parent/child edges ignored)')
sys.exit(1 if bad else 0)
