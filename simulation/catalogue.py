"""What the simulated year draws from: places, names, products and their prices, the seasons of
invoicing and applying, the reasons people give, and the banks parties are paid at."""

YUAN = 100
WAN = 10_000 * YUAN  # 万元
MIN_VOUCHER_FEN = 1 * WAN

# District → administrative division code (the 3rd–8th characters of a USCC), with a weight:
# the high-tech zone and the central districts hold most of the digital economy.
DISTRICTS = [
    ("高新园区", "210231", 30), ("甘井子区", "210211", 16), ("中山区", "210202", 12),
    ("沙河口区", "210204", 10), ("西岗区", "210203", 8), ("金州区", "210213", 10),
    ("旅顺口区", "210212", 4), ("普兰店区", "210214", 3), ("瓦房店市", "210281", 3),
    ("庄河市", "210283", 2), ("长海县", "210224", 1),
]
CORES = ["海创", "星河", "云帆", "智海", "华信", "远洋", "博瑞", "天图", "辰光", "启明", "泰达",
         "恒远", "瀚海", "鲲鹏", "澜舟", "港湾", "蓝鲸", "极光", "曜石", "北辰", "新港", "滨城",
         "金石", "银帆", "融科", "凌云", "深蓝", "卓越", "和信", "聚能", "知行", "睿思", "长兴",
         "碧海", "临港", "航远", "明德", "星海", "东港", "老虎滩", "金沙", "棒棰", "渤海", "黄海",
         "辽东", "连城", "滨海", "海韵", "远景", "弘毅", "鼎盛", "众联", "同创", "中科", "华晟",
         "宏图", "锦程", "九章", "天元", "经纬"]
INDUSTRIES = ["智能科技", "信息技术", "数据科技", "软件", "生物科技", "智能制造", "机器人",
              "自动驾驶", "医疗科技", "海洋科技", "新材料", "航运科技", "金融信息服务",
              "数字科技", "网络科技", "人工智能", "精细化工", "船舶设计", "智慧物流", "文化传媒",
              "能源科技", "半导体", "工业互联网", "遥感信息"]
INSTITUTES = ["人工智能研究院", "智能计算研究所", "海洋信息研究院", "先进制造研究院",
              "生物医药研究院", "化工过程研究所", "工业软件研究院", "数字经济研究中心"]
PROVIDER_FORMS = ["大连{core}算力科技有限公司", "{core}云计算（大连）有限公司",
                  "大连{core}智算中心有限公司", "大连{core}数据中心有限公司",
                  "{core}智能算力（辽宁）有限公司", "大连{core}超算科技有限公司"]
PROJECT_DOMAINS = ["工业视觉质检大模型训练", "港口集装箱智能调度", "海洋牧场环境感知",
                   "化工过程优化仿真", "智能网联汽车感知模型", "医学影像辅助诊断",
                   "金融风控大模型微调", "船舶设计CFD仿真", "新药分子筛选", "城市交通信号优化",
                   "智慧农业病虫害识别", "多语种客服大模型", "遥感影像解译", "材料基因组计算",
                   "数字人直播内容生成", "工业机器人强化学习", "气象数值预报后处理",
                   "文旅多模态内容生成", "电力负荷预测", "智能制造数字孪生"]

# (category, description, unit, lowest unit price, highest unit price) in fen.
CATALOGUE = {
    "gpu": [("gpu", "NVIDIA A800 GPU 训练算力", "卡时", 900, 1400),
            ("gpu", "NVIDIA H800 GPU 训练算力", "卡时", 1800, 2600),
            ("gpu", "NVIDIA L20 GPU 推理算力", "卡时", 350, 600),
            ("gpu", "8卡 A800 GPU 云服务器（包月）", "台·月", 6_500_000, 9_000_000)],
    "npu": [("npu", "昇腾910B NPU 训练算力", "卡时", 700, 1100),
            ("npu", "昇腾310P NPU 推理算力", "卡时", 150, 300),
            ("npu", "昇腾 AI 训练集群节点（包月）", "节点·月", 4_500_000, 7_000_000)],
    "accelerator": [("accelerator", "寒武纪 MLU370 推理加速", "卡时", 250, 450),
                    ("accelerator", "海光 DCU 加速计算", "卡时", 500, 800),
                    ("accelerator", "FPGA 加速实例", "实例·月", 300_000, 800_000)],
}
EXTRAS = [  # (probability, lowest share, highest share, line)
    (0.35, 0.04, 0.12, ("storage", "高性能并行文件存储", "TB·月", 30_000, 60_000)),
    (0.12, 0.01, 0.04, ("storage", "对象存储", "TB·月", 8_000, 15_000)),
    (0.20, 0.01, 0.05, ("network", "数据中心专线带宽", "Mbps·月", 5_000, 12_000)),
    (0.06, 0.01, 0.03, ("network", "公网出口流量", "GB", 50, 90)),
    (0.05, 0.02, 0.05, ("security", "云安全防护服务", "月", 200_000, 500_000)),
    (0.05, 0.03, 0.08, ("cpu", "通用计算 CPU 云主机", "核·月", 4_000, 9_000)),
]
SPECIALTIES = [("gpu", 50), ("npu", 35), ("accelerator", 15)]

# Invoice count by month (Feb: Spring Festival), rising to a Q4 peak; and amount drift.
MONTH_VOLUME = [5, 3, 6, 7, 7, 8, 8, 8, 9, 10, 12, 14]
MONTH_AMOUNT = [0.85, 0.8, 0.9, 0.9, 0.95, 1.0, 1.0, 1.0, 1.05, 1.1, 1.15, 1.2]
# When enterprises first apply: mostly in the first quarter, none in the last two months.
APPLY_MONTH = [30, 20, 18, 10, 7, 5, 4, 3, 2, 1, 0, 0]
REJECT_REASONS = ["项目不属于智能算力应用范畴", "申报材料不完整，算力采购合同缺失",
                  "项目已获其他财政资金支持"]
REVERSAL_REASONS = ["服务量核减", "计费差错更正", "合同变更退费"]
# Where each party is paid (a batch cannot be approved for a beneficiary without an account).
BANKS = ["中国工商银行大连分行", "中国建设银行大连分行", "中国银行大连分行",
         "中国农业银行大连分行", "交通银行大连分行", "招商银行大连分行", "大连银行"]


def bank_facts(kind: int, idx: int) -> dict[str, str]:
    """A party's own account from its place in the plan (1 enterprise, 2 provider): drawing it
    from the seeded random stream would change the rest of the simulated year."""
    return {"bank_name": BANKS[idx % len(BANKS)], "bank_account": f"3400{kind}{idx:014d}"}
